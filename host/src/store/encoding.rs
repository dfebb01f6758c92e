//! The value encoding of every tree: one version byte, then postcard.
//!
//! The version byte lets a later release read rows an earlier one wrote and migrate them,
//! instead of misreading them.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{StoreError, StoreResult};

/// The encoding written by this release.
const VERSION: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = vec![VERSION];
    // Serialising plain structs of strings, numbers and lists into a Vec cannot fail.
    bytes.extend(postcard::to_stdvec(value).expect("postcard serialises store rows"));
    bytes
}

pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> StoreResult<T> {
    let decode_error = |message: String| StoreError::Decode {
        what: what.to_string(),
        message,
    };
    match bytes.split_first() {
        Some((&VERSION, rest)) => {
            postcard::from_bytes(rest).map_err(|error| decode_error(error.to_string()))
        }
        Some((version, _)) => Err(decode_error(format!("unknown encoding version {version}"))),
        None => Err(decode_error("empty value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let value = (42u64, Some("text".to_string()), vec![1u8, 2]);
        let decoded: (u64, Option<String>, Vec<u8>) = decode("test", &encode(&value)).unwrap();
        assert_eq!(decoded, value);
    }

    #[test]
    fn unknown_version_is_an_error() {
        let error = decode::<u64>("run", &[9, 1]).unwrap_err().to_string();
        assert!(error.contains("version 9"), "{error}");
    }
}
