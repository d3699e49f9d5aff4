//! Which environment the worker runs in, and what each may not be configured with. Checked before
//! the worker serves anything: a production or staging worker with a development setting answers
//! every request 503 naming it, instead of working badly.

/// The `ENVIRONMENT` var.
pub const ENVIRONMENT_VAR: &str = "ENVIRONMENT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Dev,
    Staging,
    Production,
}

impl Environment {
    /// `dev`, `staging` or `production`; anything else (or nothing) is refused, never guessed.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value {
            Some("dev") => Ok(Self::Dev),
            Some("staging") => Ok(Self::Staging),
            Some("production") => Ok(Self::Production),
            Some(other) => Err(format!(
                "var {ENVIRONMENT_VAR} is {other:?}; use dev, staging or production"
            )),
            None => Err(format!(
                "var {ENVIRONMENT_VAR} is missing; use dev, staging or production"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }

    /// Development conveniences (`DEV_MODE`) are refused outside `dev`.
    pub fn check_dev_mode(self, dev_mode: bool) -> Result<(), String> {
        if dev_mode && self != Self::Dev {
            Err(format!(
                "var DEV_MODE is a development setting and is refused in the {} environment",
                self.name()
            ))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments() {
        assert_eq!(
            Environment::parse(Some("production")),
            Ok(Environment::Production)
        );
        assert!(Environment::parse(Some("prod"))
            .unwrap_err()
            .contains("\"prod\""));
        assert!(Environment::parse(None).unwrap_err().contains("missing"));
    }

    #[test]
    fn dev_mode_only_in_dev() {
        assert!(Environment::Dev.check_dev_mode(true).is_ok());
        assert!(Environment::Production.check_dev_mode(false).is_ok());
        let e = Environment::Production.check_dev_mode(true).unwrap_err();
        assert!(e.contains("DEV_MODE") && e.contains("production"), "{e}");
        assert!(Environment::Staging.check_dev_mode(true).is_err());
    }
}
