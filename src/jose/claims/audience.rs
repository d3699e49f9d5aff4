//! The `aud` claim (RFC 7519 §4.1.3): one audience as a string, or several as an array.

use serde::{Deserialize, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is one of the audiences (exact, case-sensitive match).
    pub fn contains(&self, audience: &str) -> bool {
        self.iter().any(|candidate| candidate == audience)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let audiences: &[String] = match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        };
        audiences.iter().map(String::as_str)
    }

    /// At least one audience, none empty.
    pub fn is_well_formed(&self) -> bool {
        let mut audiences = self.iter().peekable();
        audiences.peek().is_some() && audiences.all(|audience| !audience.is_empty())
    }
}

impl From<&str> for Audience {
    fn from(audience: &str) -> Self {
        Audience::One(audience.to_owned())
    }
}

/// A single audience is written as a string, as RFC 7519 §4.1.3 allows, whichever variant
/// holds it.
impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(one) => serializer.serialize_str(one),
            Audience::Many(many) => match many.as_slice() {
                [one] => serializer.serialize_str(one),
                _ => many.serialize(serializer),
            },
        }
    }
}
