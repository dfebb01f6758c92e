//! The length of a request URL as the host sends it, and id lists that fit a length.
//!
//! The host appends the query to the base URL in the `application/x-www-form-urlencoded`
//! form, so a comma in an id list travels as `%2C`: three bytes, not one.

use crate::Request;

/// Returns the length of `text` once form-urlencoded: ASCII letters, digits and `*-._` stay as they
/// are, a space becomes `+`, and every other byte becomes `%XX`.
pub fn encoded_len(text: &str) -> usize {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' | b' ' => 1,
            _ => 3,
        })
        .sum()
}

/// Returns the length of the URL the host builds for `request` on a base URL of `base_url_len`
/// characters, such as `https://qualysapi.qualys.com` (a trailing `/` not counted).
pub fn request_url_len(base_url_len: usize, request: &Request) -> usize {
    let query: usize = request
        .query
        .iter()
        .map(|(name, value)| encoded_len(name) + 1 + encoded_len(value))
        .sum::<usize>()
        + request.query.len().saturating_sub(1);
    let separator = usize::from(!request.query.is_empty());
    base_url_len + request.path.len() + separator + query
}

/// A comma-separated list of ids, with the length it has in a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdList {
    text: String,
    encoded_len: usize,
    count: usize,
}

impl IdList {
    /// Returns the length in a URL of the list with `id` added.
    pub fn len_with(&self, id: u64) -> usize {
        let separator = if self.count == 0 { 0 } else { 3 };
        self.encoded_len + separator + digits(id)
    }

    pub fn push(&mut self, id: u64) {
        self.encoded_len = self.len_with(id);
        if self.count > 0 {
            self.text.push(',');
        }
        self.text.push_str(&id.to_string());
        self.count += 1;
    }

    /// Returns the list as a query value, such as `1,2,3`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Splits `ids`, in their order, into lists that are each at most `max_len` long in a URL.
    /// Returns `None` when a single id is longer than `max_len`.
    pub fn split(ids: impl IntoIterator<Item = u64>, max_len: usize) -> Option<Vec<IdList>> {
        let mut lists = Vec::new();
        let mut current = IdList::default();
        for id in ids {
            if digits(id) > max_len {
                return None;
            }
            if current.len_with(id) > max_len {
                lists.push(std::mem::take(&mut current));
            }
            current.push(id);
        }
        if !current.is_empty() {
            lists.push(current);
        }
        Some(lists)
    }
}

/// Counts the decimal digits of `id`.
fn digits(id: u64) -> usize {
    id.checked_ilog10().map_or(1, |log| log as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Api;

    #[test]
    fn commas_count_three_bytes() {
        let mut list = IdList::default();
        for id in [1, 22, 333] {
            list.push(id);
        }
        assert_eq!(list.as_str(), "1,22,333");
        assert_eq!(list.encoded_len(), "1%2C22%2C333".len());
        assert_eq!(encoded_len(list.as_str()), list.encoded_len());
    }

    #[test]
    fn url_length_matches_form_encoding() {
        let request = Request::get(
            Api::Classic,
            "/api/5.0/fo/compliance/posture/info/",
            vec![
                ("action".into(), "list".into()),
                ("evaluation_date".into(), "2026-12-01T00:00:00Z".into()),
                ("host_ids".into(), "1,2".into()),
            ],
        );
        let url = "http://127.0.0.1:8080/api/5.0/fo/compliance/posture/info/?action=list\
                   &evaluation_date=2026-12-01T00%3A00%3A00Z&host_ids=1%2C2";
        assert_eq!(
            request_url_len("http://127.0.0.1:8080".len(), &request),
            url.len()
        );
    }

    #[test]
    fn split_keeps_every_list_within_the_length() {
        let ids: Vec<u64> = (1_000_000..1_005_000).collect();
        let lists = IdList::split(ids.iter().copied(), 100).unwrap();
        assert!(lists.iter().all(|list| list.encoded_len() <= 100));
        let joined: Vec<u64> = lists
            .iter()
            .flat_map(|list| list.as_str().split(','))
            .map(|id| id.parse().unwrap())
            .collect();
        assert_eq!(joined, ids);
        assert!(IdList::split([123_456], 5).is_none());
        assert_eq!(digits(0), 1);
        assert_eq!(digits(u64::MAX), 20);
    }
}
