//! Job parameters that several components read, validated the same way everywhere.

use crate::job::{JobError, JobHost};

/// The job parameter that selects the classic API version.
pub const API_VERSION_PARAMETER: &str = "api_version";

/// The API version used when the `api_version` parameter is absent or blank.
pub const DEFAULT_API_VERSION: &str = "5.0";

/// The classic API versions that serve the compliance endpoints.
pub const API_VERSIONS: [&str; 4] = ["2.0", "3.0", "4.0", "5.0"];

/// Returns the classic API version from the `api_version` parameter, or
/// [`DEFAULT_API_VERSION`] when it is absent or blank.
///
/// Fails with [`JobError::InvalidParameter`] if the value is not one of [`API_VERSIONS`].
pub fn api_version<H: JobHost>(host: &mut H) -> Result<&'static str, JobError> {
    let parameter = host.parameter(API_VERSION_PARAMETER);
    let trimmed = parameter.as_deref().map(str::trim).unwrap_or("");
    if trimmed.is_empty() {
        return Ok(DEFAULT_API_VERSION);
    }
    API_VERSIONS
        .iter()
        .find(|version| **version == trimmed)
        .copied()
        .ok_or_else(|| {
            JobError::InvalidParameter(format!(
                "{API_VERSION_PARAMETER} {:?} is not supported: use one of {}",
                parameter.unwrap_or_default(),
                API_VERSIONS.join(", ")
            ))
        })
}

/// Returns a yes/no parameter: `1` or `true` is true, and `0`, `false`, blank or absent is
/// false, in any letter case.
///
/// Fails with [`JobError::InvalidParameter`] for any other value, so a typo does not silently
/// switch an option off.
pub fn flag_parameter<H: JobHost>(host: &mut H, name: &str) -> Result<bool, JobError> {
    flag_parameter_or(host, name, false)
}

/// Returns a yes/no parameter like [`flag_parameter`], but `default` when it is blank or
/// absent, for an option that is on unless switched off.
///
/// Fails with [`JobError::InvalidParameter`] for a value other than `1`, `true`, `0` or
/// `false` in any letter case.
pub fn flag_parameter_or<H: JobHost>(
    host: &mut H,
    name: &str,
    default: bool,
) -> Result<bool, JobError> {
    let parameter = host.parameter(name);
    let trimmed = parameter.as_deref().map(str::trim).unwrap_or("");
    if trimmed.is_empty() {
        Ok(default)
    } else if trimmed == "0" || trimmed.eq_ignore_ascii_case("false") {
        Ok(false)
    } else if trimmed == "1" || trimmed.eq_ignore_ascii_case("true") {
        Ok(true)
    } else {
        Err(JobError::InvalidParameter(format!(
            "{name} {:?} is not a flag: use 1, true, 0 or false",
            parameter.unwrap_or_default()
        )))
    }
}

/// Returns a positive integer parameter, or `default` when it is absent or blank.
///
/// Fails with [`JobError::InvalidParameter`] for anything but ASCII digits with a value from 1
/// to 4294967295.
pub fn positive_integer_parameter<H: JobHost>(
    host: &mut H,
    name: &str,
    default: u32,
) -> Result<u32, JobError> {
    let parameter = host.parameter(name);
    let trimmed = parameter.as_deref().map(str::trim).unwrap_or("");
    if trimmed.is_empty() {
        return Ok(default);
    }
    let parsed = if trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        trimmed.parse::<u32>().ok().filter(|value| *value > 0)
    } else {
        None
    };
    parsed.ok_or_else(|| {
        JobError::InvalidParameter(format!(
            "{name} {:?} is not a positive integer: use a whole number from 1 to {}",
            parameter.unwrap_or_default(),
            u32::MAX
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::LogLevel;

    struct Parameters(Vec<(&'static str, &'static str)>);

    impl JobHost for Parameters {
        type Record = ();

        fn log(&mut self, _level: LogLevel, _message: &str) {}

        fn emit(&mut self, _records: Vec<()>) -> Result<(), String> {
            Ok(())
        }

        fn parameter(&mut self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn api_version_default_and_values() {
        assert_eq!(api_version(&mut Parameters(vec![])).unwrap(), "5.0");
        assert_eq!(
            api_version(&mut Parameters(vec![("api_version", " ")])).unwrap(),
            "5.0"
        );
        assert_eq!(
            api_version(&mut Parameters(vec![("api_version", " 2.0 ")])).unwrap(),
            "2.0"
        );
    }

    #[test]
    fn api_version_unsupported_rejected() {
        let error = api_version(&mut Parameters(vec![("api_version", "5.0/../x")])).unwrap_err();

        assert_eq!(
            error,
            JobError::InvalidParameter(
                "api_version \"5.0/../x\" is not supported: use one of 2.0, 3.0, 4.0, 5.0"
                    .to_owned()
            )
        );
    }

    #[test]
    fn flag_values() {
        let cases = [
            ("1", true),
            ("true", true),
            (" TRUE ", true),
            ("0", false),
            ("False", false),
            ("", false),
        ];
        for (value, expected) in cases {
            let mut host = Parameters(vec![("show_appendix", value)]);
            assert_eq!(
                flag_parameter(&mut host, "show_appendix").unwrap(),
                expected,
                "{value:?}"
            );
        }
        assert!(!flag_parameter(&mut Parameters(vec![]), "show_appendix").unwrap());
    }

    #[test]
    fn flag_typo_rejected() {
        let error = flag_parameter(
            &mut Parameters(vec![("show_appendix", "yes")]),
            "show_appendix",
        )
        .unwrap_err();

        assert_eq!(
            error,
            JobError::InvalidParameter(
                "show_appendix \"yes\" is not a flag: use 1, true, 0 or false".to_owned()
            )
        );
    }

    #[test]
    fn flag_default_used_when_blank() {
        let mut absent = Parameters(vec![]);
        assert!(flag_parameter_or(&mut absent, "cause_of_failure", true).unwrap());

        let mut blank = Parameters(vec![("cause_of_failure", " ")]);
        assert!(flag_parameter_or(&mut blank, "cause_of_failure", true).unwrap());

        let mut off = Parameters(vec![("cause_of_failure", "false")]);
        assert!(!flag_parameter_or(&mut off, "cause_of_failure", true).unwrap());

        let mut on = Parameters(vec![("cause_of_failure", "1")]);
        assert!(flag_parameter_or(&mut on, "cause_of_failure", false).unwrap());

        let mut typo = Parameters(vec![("cause_of_failure", "on")]);
        assert!(flag_parameter_or(&mut typo, "cause_of_failure", true).is_err());
    }

    #[test]
    fn positive_integer_values() {
        let mut absent = Parameters(vec![]);
        assert_eq!(
            positive_integer_parameter(&mut absent, "n", 1000).unwrap(),
            1000
        );

        let mut set = Parameters(vec![("n", " 250 ")]);
        assert_eq!(
            positive_integer_parameter(&mut set, "n", 1000).unwrap(),
            250
        );
    }

    #[test]
    fn invalid_positive_integers_rejected() {
        for value in ["0", "-1", "+5", "1.5", "ten", "4294967296", "\u{663}"] {
            let mut host = Parameters(vec![("n", value)]);
            let error = positive_integer_parameter(&mut host, "n", 1000).unwrap_err();
            assert_eq!(
                error,
                JobError::InvalidParameter(format!(
                    "n {value:?} is not a positive integer: use a whole number from 1 to \
                     4294967295"
                )),
            );
        }
    }
}
