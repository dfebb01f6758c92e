//! Evidence, remediation and cause of failure of postures, derived on demand.
//!
//! A control's checks (which data points its BOOLEAN_EXPR compares with which expected
//! values) come from the seed and the control id, so every posture of a control shows the
//! same expression. The actual values come from the seed, the posture id and the status, so
//! a Passed posture shows values that meet every check and a Failed one values that break at
//! least one.
//!
//! The expressions use the glossary's token labels: `:dp_N` for a data point (DPD_LIST),
//! `#fv_N` for a fixed expected value (FV_LIST), `$tp_N` for a template of accepted values
//! (TP_LIST) and `%tm_N` for a value with a display text (TM_LIST).

use std::collections::BTreeSet;

use super::PostureStatus;
use crate::rng::{SplitMix64, mix};

const CHECKS_STREAM: u64 = 0x6368_6563_6B73_7374;
const VALUES_STREAM: u64 = 0x7661_6C75_6573_7374;

/// Names of the data points, `:dp_1` first.
pub(crate) const DATA_POINTS: &[&str] = &[
    "Minimum password length",
    "Maximum password age (days)",
    "Account lockout threshold",
    "Login banner text",
    "Owner of the audit log directory",
    "PermitRootLogin in /etc/ssh/sshd_config",
    "Enabled TLS protocol versions",
    "Startup type of the Remote Registry service",
    "kernel.randomize_va_space",
    "Path of the SSH banner file",
    "REMOTE_LOGIN_PASSWORDFILE parameter",
    "Audit policy: Logon events",
];

/// Fixed expected values, `#fv_1` first. Some are TM keys.
pub(crate) const FIXED_VALUES: &[&str] = &[
    "14",
    "60",
    "5",
    "%tm_2",
    "2",
    r"^/etc/issue(\.net)?$",
    "NONE",
    "%tm_6",
];

/// Templates of accepted values, `$tp_1` first.
pub(crate) const TEMPLATES: &[&[&str]] = &[
    &[
        "Authorized use only.\nActivity on this system is monitored and logged.",
        "Nur für autorisierte Benutzer.\nZugriffe werden protokolliert.",
        "許可された利用者のみ使用できます。\n操作は記録されます。",
        "Authorized use only ]]> see the acceptable use policy.",
    ],
    &["root", "Müller", "日本語-admins"],
    &["no", "prohibit-password"],
    &["TLSv1.2", "TLSv1.3"],
];

/// Display texts of the TM keys, `%tm_1` first.
pub(crate) const TEXT_MAPPINGS: &[&str] = &[
    "Enabled",
    "Disabled",
    "Automatic",
    "Manual",
    "Setting not found",
    "Success and Failure",
    "No Auditing",
];

/// How a check compares a data point with its expected values.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// `(:dp >= #fv)`, with the ranges of passing and failing numbers.
    AtLeast {
        fv: usize,
        passing: (u64, u64),
        failing: (u64, u64),
    },
    /// `(:dp <= #fv)`.
    AtMost {
        fv: usize,
        passing: (u64, u64),
        failing: (u64, u64),
    },
    /// `($tp contains :dp)`. With `multiple`, a posture may report two values.
    InTemplate {
        tp: usize,
        failing: &'static [&'static str],
        multiple: bool,
    },
    /// `(:dp == #fv)`.
    Equals {
        fv: usize,
        failing: &'static [&'static str],
    },
    /// `(:dp matches #fv)`, a regular expression.
    Matches {
        fv: usize,
        passing: &'static [&'static str],
        failing: &'static [&'static str],
    },
}

/// A check of one data point (`dp`, from 1).
#[derive(Debug, Clone, Copy)]
struct Check {
    dp: usize,
    rule: Rule,
}

/// The checks that controls draw from. Token numbers count from 1.
const CHECKS: &[Check] = &[
    Check {
        dp: 1,
        rule: Rule::AtLeast {
            fv: 1,
            passing: (14, 24),
            failing: (0, 13),
        },
    },
    Check {
        dp: 2,
        rule: Rule::AtMost {
            fv: 2,
            passing: (1, 60),
            failing: (61, 999),
        },
    },
    Check {
        dp: 3,
        rule: Rule::AtMost {
            fv: 3,
            passing: (1, 5),
            failing: (6, 50),
        },
    },
    Check {
        dp: 4,
        rule: Rule::InTemplate {
            tp: 1,
            failing: &[
                "Welcome!\nHave a nice day.",
                "Willkommen, Herr Müller!\nBitte melden Sie sich an.",
            ],
            multiple: false,
        },
    },
    Check {
        dp: 5,
        rule: Rule::InTemplate {
            tp: 2,
            failing: &["nobody", "Jürgen Weiß (contractor)"],
            multiple: false,
        },
    },
    Check {
        dp: 6,
        rule: Rule::InTemplate {
            tp: 3,
            failing: &["yes", "without-password"],
            multiple: false,
        },
    },
    Check {
        dp: 7,
        rule: Rule::InTemplate {
            tp: 4,
            failing: &["TLSv1.0", "TLSv1.1", "SSLv3"],
            multiple: true,
        },
    },
    Check {
        dp: 8,
        rule: Rule::Equals {
            fv: 4,
            failing: &["%tm_3", "%tm_4", "%tm_5"],
        },
    },
    Check {
        dp: 9,
        rule: Rule::Equals {
            fv: 5,
            failing: &["0", "1"],
        },
    },
    Check {
        dp: 10,
        rule: Rule::Matches {
            fv: 6,
            passing: &["/etc/issue", "/etc/issue.net"],
            failing: &["/etc/motd", "/etc/issue]]>.bak"],
        },
    },
    Check {
        dp: 11,
        rule: Rule::Equals {
            fv: 7,
            failing: &["EXCLUSIVE", "SHARED"],
        },
    },
    Check {
        dp: 12,
        rule: Rule::Equals {
            fv: 8,
            failing: &["%tm_7", "%tm_5"],
        },
    },
];

/// Characters that XML 1.0 does not allow, which [`Evidence::derive`] puts into values when
/// asked to.
const INVALID_CHARS: &[char] = &['\u{1}', '\u{1b}', '\u{b}', '\u{fffe}'];

/// Glossary tokens that a piece of output references, as numbers from 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub(crate) data_points: BTreeSet<usize>,
    pub(crate) fixed_values: BTreeSet<usize>,
    pub(crate) templates: BTreeSet<usize>,
    pub(crate) text_mappings: BTreeSet<usize>,
}

impl Tokens {
    pub(crate) fn extend(&mut self, other: &Tokens) {
        self.data_points.extend(&other.data_points);
        self.fixed_values.extend(&other.fixed_values);
        self.templates.extend(&other.templates);
        self.text_mappings.extend(&other.text_mappings);
    }

    /// Adds the TM key that `value` is, if it is one (`%tm_3`).
    pub(crate) fn add_text_mapping(&mut self, value: &str) {
        let number = value
            .strip_prefix("%tm_")
            .and_then(|number| number.parse::<usize>().ok());
        if let Some(number) = number.filter(|n| (1..=TEXT_MAPPINGS.len()).contains(n)) {
            self.text_mappings.insert(number);
        }
    }
}

/// What the posture info shows about one posture's evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evidence {
    /// BOOLEAN_EXPR, such as `(:dp_1 >= #fv_1) && ($tp_2 contains :dp_5)`.
    pub(crate) expression: String,
    /// DPV_LIST: each data point number with the values found.
    pub(crate) values: Vec<(usize, Vec<String>)>,
    /// EXTENDED_EVIDENCE text, several lines.
    pub(crate) extended: String,
    /// Values of CAUSE_OF_FAILURE/UNEXPECTED: found values that break a check.
    pub(crate) unexpected: Vec<String>,
    /// Values of CAUSE_OF_FAILURE/MISSING: expected values of the broken checks.
    pub(crate) missing: Vec<String>,
    /// Tokens that the expression and the values reference.
    pub(crate) tokens: Tokens,
}

impl Evidence {
    /// Derives the evidence of a posture. With `invalid_char`, the first value ends with that
    /// character.
    pub(crate) fn derive(
        seed: u64,
        control_id: u64,
        posture_id: u64,
        status: PostureStatus,
        invalid_char: Option<char>,
    ) -> Evidence {
        let checks = control_checks(seed, control_id);
        let status_index = status as u64;
        let mut rng = SplitMix64::new(mix(seed ^ VALUES_STREAM, posture_id) ^ status_index);

        // A Failed posture breaks one chosen check and each other check with probability 1/3.
        let broken_index = rng.below(checks.len() as u64) as usize;
        let mut evidence = Evidence {
            expression: String::new(),
            values: Vec::with_capacity(checks.len()),
            extended: String::from("Data points collected during the evaluation:"),
            unexpected: Vec::new(),
            missing: Vec::new(),
            tokens: Tokens::default(),
        };
        for (index, check) in checks.iter().enumerate() {
            if index > 0 {
                evidence.expression.push_str(" && ");
            }
            evidence.expression.push_str(&expression(check));
            evidence.add_check_tokens(check);

            let values = match status {
                PostureStatus::Error => vec!["Error 5: Access is denied.".to_string()],
                PostureStatus::Passed => values(&mut rng, check, false),
                PostureStatus::Failed => {
                    let broken = index == broken_index || rng.one_in(3);
                    let values = values(&mut rng, check, broken);
                    if broken {
                        evidence.add_failure(check, &values);
                    }
                    values
                }
            };
            for value in &values {
                evidence.tokens.add_text_mapping(value);
            }
            evidence.extended.push_str(&format!(
                "\n  :dp_{} ({}) = {}",
                check.dp,
                DATA_POINTS[check.dp - 1],
                values.join(" | ")
            ));
            evidence.values.push((check.dp, values));
        }
        if let (Some(ch), Some((_, values))) = (invalid_char, evidence.values.first_mut())
            && let Some(first) = values.first_mut()
        {
            first.push(ch);
        }
        evidence
    }

    fn add_check_tokens(&mut self, check: &Check) {
        self.tokens.data_points.insert(check.dp);
        match check.rule {
            Rule::AtLeast { fv, .. }
            | Rule::AtMost { fv, .. }
            | Rule::Equals { fv, .. }
            | Rule::Matches { fv, .. } => {
                self.tokens.fixed_values.insert(fv);
                self.tokens.add_text_mapping(FIXED_VALUES[fv - 1]);
            }
            Rule::InTemplate { tp, .. } => {
                self.tokens.templates.insert(tp);
            }
        }
    }

    fn add_failure(&mut self, check: &Check, values: &[String]) {
        self.unexpected.extend(values.iter().cloned());
        match check.rule {
            Rule::AtLeast { fv, .. }
            | Rule::AtMost { fv, .. }
            | Rule::Equals { fv, .. }
            | Rule::Matches { fv, .. } => self.missing.push(FIXED_VALUES[fv - 1].to_string()),
            Rule::InTemplate { tp, .. } => self
                .missing
                .extend(TEMPLATES[tp - 1].iter().map(|value| value.to_string())),
        }
    }
}

/// Returns the checks of a control: 1 to 3 different ones, in the order of [`CHECKS`].
fn control_checks(seed: u64, control_id: u64) -> Vec<Check> {
    let mut rng = SplitMix64::new(mix(seed ^ CHECKS_STREAM, control_id));
    let count = rng.between(1, 3) as usize;
    let mut indexes: Vec<usize> = (0..CHECKS.len()).collect();
    rng.shuffle(&mut indexes);
    indexes.truncate(count);
    indexes.sort_unstable();
    indexes.into_iter().map(|index| CHECKS[index]).collect()
}

fn expression(check: &Check) -> String {
    let dp = check.dp;
    match check.rule {
        Rule::AtLeast { fv, .. } => format!("(:dp_{dp} >= #fv_{fv})"),
        Rule::AtMost { fv, .. } => format!("(:dp_{dp} <= #fv_{fv})"),
        Rule::InTemplate { tp, .. } => format!("($tp_{tp} contains :dp_{dp})"),
        Rule::Equals { fv, .. } => format!("(:dp_{dp} == #fv_{fv})"),
        Rule::Matches { fv, .. } => format!("(:dp_{dp} matches #fv_{fv})"),
    }
}

/// Draws the values of one data point that meet the check, or break it when `broken`.
fn values(rng: &mut SplitMix64, check: &Check, broken: bool) -> Vec<String> {
    let pick = |rng: &mut SplitMix64, items: &[&str]| rng.pick(items).to_string();
    match check.rule {
        Rule::AtLeast {
            passing, failing, ..
        }
        | Rule::AtMost {
            passing, failing, ..
        } => {
            let (low, high) = if broken { failing } else { passing };
            vec![rng.between(low, high).to_string()]
        }
        Rule::InTemplate {
            tp,
            failing,
            multiple,
        } => {
            let accepted = TEMPLATES[tp - 1];
            let mut values = vec![pick(rng, accepted)];
            if multiple && rng.one_in(2) {
                values.push(pick(rng, accepted));
                values.dedup();
            }
            if broken {
                values.push(pick(rng, failing));
                if !multiple {
                    values.remove(0);
                }
            }
            values
        }
        Rule::Equals { fv, failing } => {
            if broken {
                vec![pick(rng, failing)]
            } else {
                vec![FIXED_VALUES[fv - 1].to_string()]
            }
        }
        Rule::Matches {
            passing, failing, ..
        } => vec![pick(rng, if broken { failing } else { passing })],
    }
}

/// Returns the character to put into the evidence of the posture with this ordinal (its id
/// minus 5000000) when every `every`th posture gets one, cycling through U+0001, U+001B,
/// U+000B and U+FFFE.
pub(crate) fn invalid_char(ordinal: u64, every: Option<u64>) -> Option<char> {
    let every = every.filter(|every| *every > 0)?;
    if ordinal == 0 || !ordinal.is_multiple_of(every) {
        return None;
    }
    let index = (ordinal / every - 1) % INVALID_CHARS.len() as u64;
    Some(INVALID_CHARS[index as usize])
}

/// Templates of remediation texts. `{statement}` is replaced by the control's statement.
const REMEDIATIONS: &[&str] = &[
    "{statement}: set the value that the policy expects.\n\
     1. Open the local security settings or the configuration file.\n\
     2. Change the setting & save it.\n\
     3. Wait for the next scan <or start one> to confirm the change.",
    "Remediation for {statement}:\n\
     - Apply the hardening baseline through Group Policy or configuration management.\n\
     - Hinweis: Änderungen werden erst nach einem Neustart wirksam.",
    "{statement}.\n\
     Update the parameter file, then restart the service.\n\
     Exceptions need the approval of the system owner (see the exception register).",
];

/// Returns the remediation text of a control: several lines, the same for all its postures.
pub(crate) fn remediation(seed: u64, control_id: u64, statement: &str) -> String {
    let index = mix(seed ^ CHECKS_STREAM, !control_id) % REMEDIATIONS.len() as u64;
    REMEDIATIONS[index as usize].replace("{statement}", statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_labels() {
        for check in CHECKS {
            assert!((1..=DATA_POINTS.len()).contains(&check.dp));
            match check.rule {
                Rule::AtLeast { fv, .. }
                | Rule::AtMost { fv, .. }
                | Rule::Equals { fv, .. }
                | Rule::Matches { fv, .. } => assert!((1..=FIXED_VALUES.len()).contains(&fv)),
                Rule::InTemplate { tp, .. } => assert!((1..=TEMPLATES.len()).contains(&tp)),
            }
        }
        let dps: BTreeSet<usize> = CHECKS.iter().map(|check| check.dp).collect();
        assert_eq!(dps.len(), CHECKS.len(), "two checks share a data point");
    }

    #[test]
    fn evidence_deterministic_per_status() {
        let a = Evidence::derive(1, 1071, 5_000_001, PostureStatus::Failed, None);
        let b = Evidence::derive(1, 1071, 5_000_001, PostureStatus::Failed, None);
        assert_eq!(a, b);
        let passed = Evidence::derive(1, 1071, 5_000_001, PostureStatus::Passed, None);
        assert_eq!(
            a.expression, passed.expression,
            "expression depends on status"
        );
        assert!(passed.unexpected.is_empty());
        assert!(passed.missing.is_empty());
        assert!(!a.unexpected.is_empty(), "failed without unexpected values");
        assert!(!a.missing.is_empty(), "failed without missing values");
    }

    #[test]
    fn tokens_cover_expression() {
        for control_id in 1000..1200 {
            let evidence = Evidence::derive(3, control_id, 7, PostureStatus::Passed, None);
            for dp in &evidence.tokens.data_points {
                assert!(evidence.expression.contains(&format!(":dp_{dp}")));
            }
            let labels = evidence.expression.matches(":dp_").count()
                + evidence.expression.matches("#fv_").count()
                + evidence.expression.matches("$tp_").count();
            assert_eq!(
                labels,
                evidence.tokens.data_points.len()
                    + evidence.tokens.fixed_values.len()
                    + evidence.tokens.templates.len(),
                "{}",
                evidence.expression
            );
        }
    }

    #[test]
    fn invalid_char_every_nth() {
        assert_eq!(invalid_char(5, None), None);
        assert_eq!(invalid_char(5, Some(0)), None);
        assert_eq!(invalid_char(0, Some(5)), None);
        assert_eq!(invalid_char(4, Some(5)), None);
        assert_eq!(invalid_char(5, Some(5)), Some('\u{1}'));
        assert_eq!(invalid_char(10, Some(5)), Some('\u{1b}'));
        assert_eq!(invalid_char(25, Some(5)), Some('\u{1}'));
        let evidence = Evidence::derive(1, 1071, 9, PostureStatus::Passed, Some('\u{1b}'));
        assert!(evidence.values[0].1[0].ends_with('\u{1b}'));
    }
}
