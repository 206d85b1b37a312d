//! Small serde helpers shared by the core wire types.
//!
//! - [`JsonObject`]: the JSON object type used to keep unknown fields and unknown variants.
//! - [`js_number`]: writes an `f64` the way JavaScript's `JSON.stringify` does (whole numbers
//!   without a fractional part), so costs and durations serialize byte-identically to the
//!   TypeScript server.
//! - `wire_enum!`: a string enum with a catch-all variant that keeps values this version does
//!   not know, so a value written by a newer server survives a read/write round trip.

/// A JSON object (insertion-ordered, because the crate enables `preserve_order`).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Serde helpers for `f64` fields that must serialize like JavaScript numbers.
///
/// Use as `#[serde(with = "crate::core::wire::js_number")]`, or the [`js_number::option`]
/// submodule for `Option<f64>` fields.
pub mod js_number {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Largest integer JavaScript represents exactly (2^53 - 1).
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

    /// Writes `value` as an integer when it is whole and within JavaScript's safe-integer
    /// range, otherwise as a float. Non-finite values become `null`, as in JavaScript.
    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        let v = *value;
        if !v.is_finite() {
            serializer.serialize_none()
        } else if v.fract() == 0.0 && v.abs() <= MAX_SAFE {
            serializer.serialize_i64(v as i64)
        } else {
            serializer.serialize_f64(v)
        }
    }

    /// Reads any JSON number as `f64`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        f64::deserialize(deserializer)
    }

    /// The same rules for `Option<f64>` (pair with `skip_serializing_if = "Option::is_none"`).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes `Some(v)` like [`super::serialize`], `None` as `null`.
        pub fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => super::serialize(v, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Reads an optional JSON number.
        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
            Option::<f64>::deserialize(deserializer)
        }
    }
}

/// Defines a string enum with a catch-all variant.
///
/// Generates the enum, `as_str`, `KNOWN` (every known wire string), `is_known`, `Display`,
/// `From<&str>`, `From<String>`, `FromStr` (infallible) and `Serialize` (as the string).
/// `Deserialize` is added by `wire_enum_deserialize!` so a type can bring its own.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
            @unknown $(#[$umeta:meta])* $unknown:ident
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            $(#[$umeta])* $unknown(String),
        }

        impl $name {
            /// Every wire string this version knows, in declaration order.
            pub const KNOWN: &'static [&'static str] = &[$($wire),+];

            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::$unknown(raw) => raw.as_str(),
                }
            }

            /// Whether this is one of the known values (not the catch-all).
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::$unknown(_))
            }

            /// Parses a wire string; unknown strings are kept in the catch-all variant.
            pub fn parse(raw: &str) -> Self {
                match raw {
                    $( $wire => Self::$variant, )+
                    other => Self::$unknown(other.to_owned()),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(s))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::parse(s)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match Self::parse(&s) {
                    Self::$unknown(_) => Self::$unknown(s),
                    known => known,
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

/// Adds a `Deserialize` impl reading the wire string (see `wire_enum!`).
macro_rules! wire_enum_deserialize {
    ($name:ident) => {
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from(raw))
            }
        }
    };
}

pub(crate) use wire_enum;
pub(crate) use wire_enum_deserialize;

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Money {
        #[serde(with = "super::js_number")]
        amount: f64,
        #[serde(with = "super::js_number::option", default, skip_serializing_if = "Option::is_none")]
        extra: Option<f64>,
    }

    #[test]
    fn js_number_writes_whole_numbers_as_integers() {
        let m = Money { amount: 3.0, extra: Some(0.25) };
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"amount":3,"extra":0.25}"#);
        let back: Money = serde_json::from_value(json!({"amount": 3})).unwrap();
        assert_eq!(back, Money { amount: 3.0, extra: None });
        let m = Money { amount: 0.000123, extra: None };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v, json!({"amount": 0.000123}));
    }
}
