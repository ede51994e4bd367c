//! How a flag's text becomes a typed value. Every parser here trims the text and, on bad
//! input, names the flag and its environment variable (`--page-size (SCIM_PAGE_SIZE): must
//! be at least 1, got `0``), whichever of the two the value came from.
//!
//! Blank values, from the command line or the environment, never reach these parsers:
//! [`crate::cli::parse`] treats them as unset, once, for every flag.

use std::ffi::OsStr;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Arg, Command, ValueEnum};

/// A parser from trimmed text; its error is the reason, without the setting's name.
#[derive(Clone)]
pub struct Setting<F> {
    parse: F,
    names: Vec<PossibleValue>,
}

impl<T, F> TypedValueParser for Setting<F>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(&self, cmd: &Command, arg: Option<&Arg>, value: &OsStr) -> Result<T, clap::Error> {
        let parsed = match value.to_str() {
            Some(text) => (self.parse)(text.trim()),
            None => Err("the value is not valid UTF-8".to_owned()),
        };
        parsed.map_err(|why| {
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("{}: {why}\n", setting_name(arg)),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        (!self.names.is_empty()).then(|| Box::new(self.names.iter().cloned()) as Box<_>)
    }
}

/// `--flag (ENV_VAR)`, or whichever of the two the argument has.
fn setting_name(arg: Option<&Arg>) -> String {
    let Some(arg) = arg else {
        return "a value".to_owned();
    };
    let flag = arg
        .get_long()
        .map_or_else(|| arg.get_id().to_string(), |l| format!("--{l}"));
    match arg.get_env() {
        Some(env) => format!("{flag} ({})", env.to_string_lossy()),
        None => flag,
    }
}

/// A setting parsed by `parse`, which gets the trimmed text and returns the value or why not.
pub fn checked<T, F>(parse: F) -> Setting<F>
where
    F: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
{
    Setting {
        parse,
        names: Vec::new(),
    }
}

/// Text, trimmed.
pub fn text() -> impl TypedValueParser<Value = String> {
    checked(|text: &str| Ok(text.to_owned()))
}

/// One of `names`, case-insensitively; `pick` turns the (lowercase) name into the value.
pub fn one_of<T: Clone + Send + Sync + 'static>(
    names: &'static [&'static str],
    pick: fn(&str) -> Option<T>,
) -> impl TypedValueParser<Value = T> {
    Setting {
        parse: move |text: &str| {
            pick(&text.to_ascii_lowercase())
                .ok_or_else(|| format!("expected {}, got `{text}`", alternatives(names)))
        },
        names: names.iter().map(|n| PossibleValue::new(*n)).collect(),
    }
}

/// One of a [`ValueEnum`]'s values, by name, case-insensitively.
pub fn choice<T: ValueEnum + Clone + Send + Sync + 'static>() -> impl TypedValueParser<Value = T> {
    let names: Vec<PossibleValue> = T::value_variants()
        .iter()
        .filter_map(ValueEnum::to_possible_value)
        .collect();
    let listed: Vec<&str> = names.iter().map(PossibleValue::get_name).collect();
    let expected = alternatives(&listed);
    Setting {
        parse: move |text: &str| {
            T::from_str(text, true).map_err(|_| format!("expected {expected}, got `{text}`"))
        },
        names,
    }
}

/// `a`, `a or b`, `a, b or c`.
fn alternatives(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `true`/`false` and their usual spellings (`1`/`0`, `yes`/`no`, `on`/`off`, `y`/`n`).
pub fn boolish() -> impl TypedValueParser<Value = bool> {
    checked(|text: &str| match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "n" => Ok(false),
        _ => Err(format!("expected true or false, got `{text}`")),
    })
}

/// A number no smaller than `min`.
pub fn at_least<T>(min: T) -> impl TypedValueParser<Value = T>
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    checked(move |text: &str| match text.parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        Ok(_) => Err(format!("must be at least {min}, got `{text}`")),
        Err(_) => Err(format!("expected a number, got `{text}`")),
    })
}

/// A number above zero (a rate).
pub fn above_zero() -> impl TypedValueParser<Value = f64> {
    checked(|text: &str| match text.parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok(n),
        Ok(_) => Err(format!("must be above zero, got `{text}`")),
        Err(_) => Err(format!("expected a number, got `{text}`")),
    })
}

/// A duration such as `90s` or `7m`, longer than zero.
pub fn duration() -> impl TypedValueParser<Value = Duration> {
    checked(|text: &str| match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than zero".to_owned()),
        Err(e) => Err(format!(
            "`{text}` is not a duration like `7m` or `90s`: {e}"
        )),
    })
}

/// A blast-radius limit as configured: a number, or `none` for no limit. Unset (the flag
/// absent) means the engine's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit<T> {
    /// `none` / `off` / `unlimited`: no limit.
    Unlimited,
    /// At most this many.
    At(T),
}

impl<T: Copy> Limit<T> {
    /// The limit to use; `None` (unset) is the engine's `default`.
    pub fn resolve(configured: Option<Self>, default: Option<T>) -> Option<T> {
        match configured {
            None => default,
            Some(Limit::Unlimited) => None,
            Some(Limit::At(n)) => Some(n),
        }
    }
}

/// A [`Limit`] no larger than `max` (when given).
pub fn limit<T>(max: Option<T>) -> impl TypedValueParser<Value = Limit<T>>
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    checked(move |text: &str| {
        if ["none", "off", "unlimited"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(text))
        {
            return Ok(Limit::Unlimited);
        }
        match (text.parse::<T>(), max) {
            (Ok(n), Some(max)) if n > max => Err(format!("must be at most {max}, got `{text}`")),
            (Ok(n), _) => Ok(Limit::At(n)),
            (Err(_), _) => Err(format!("expected a whole number or `none`, got `{text}`")),
        }
    })
}

/// A secret, kept out of `Debug` output from the moment it is read.
pub fn secret() -> impl TypedValueParser<Value = secrecy::SecretString> {
    checked(|text: &str| Ok(secrecy::SecretString::from(text)))
}
