//! The range a configuration integer may take, shared by the broker's keys (`config.rs`) and
//! the topics' (`topic_config.rs`), which otherwise do not depend on each other's rules.

/// The range of an integer key, with an optional sentinel outside it (`-1`: no limit).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IntRule {
    min: i64,
    max: i64,
    sentinel: Option<(i64, &'static str)>,
}

impl IntRule {
    pub(crate) const fn new(min: i64, max: i64) -> IntRule {
        IntRule {
            min,
            max,
            sentinel: None,
        }
    }

    pub(crate) const fn with_sentinel(
        min: i64,
        max: i64,
        sentinel: i64,
        meaning: &'static str,
    ) -> IntRule {
        IntRule {
            min,
            max,
            sentinel: Some((sentinel, meaning)),
        }
    }

    /// What the rule allows, as error messages say it.
    pub(crate) fn allowed(&self) -> String {
        let range = format!("an integer between {} and {}", self.min, self.max);
        match self.sentinel {
            None => range,
            Some((sentinel, meaning)) => format!("{sentinel} ({meaning}) or {range}"),
        }
    }

    pub(crate) fn check(&self, value: i64) -> Result<(), String> {
        let sentinel = self.sentinel.is_some_and(|(sentinel, _)| sentinel == value);
        if sentinel || (self.min..=self.max).contains(&value) {
            Ok(())
        } else {
            Err(self.allowed())
        }
    }
}
