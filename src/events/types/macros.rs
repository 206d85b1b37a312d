//! The one table-driven macro that turns `(variant, "type.string", PayloadStruct)` rows into
//! [`EventType`](super::EventType), [`EventPayload`](super::EventPayload) and their
//! string/serde plumbing. The table itself is invoked in `mod.rs`.

/// Generates, from rows `Variant => "type.string" => PayloadType`:
/// - `enum EventType { Variant, ..., Unknown(String) }` with `ALL`, `as_str`, `parse`;
/// - `enum EventPayload { Variant(PayloadType), ..., Unknown { event_type, payload } }` with
///   `event_type`, `to_value`, `into_parts`, `from_parts`, `Serialize`, `Deserialize`;
/// - `From<PayloadType> for EventPayload` for every row.
macro_rules! event_table {
    ($( $variant:ident => $name:literal => $payload:ty ),+ $(,)?) => {
        /// The `type` discriminator of a persisted event. Every type string the TypeScript
        /// server has written has a variant; anything else is kept verbatim in `Unknown`.
        /// Serializes as the plain type string.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )+
            /// A type string this version does not know; kept exactly as read.
            Unknown(String),
        }

        impl EventType {
            /// Every known type, in the TypeScript `EventType` union's order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            /// The type string as persisted (e.g. `"session.start"`).
            pub fn as_str(&self) -> &str {
                match self {
                    $(EventType::$variant => $name,)+
                    EventType::Unknown(other) => other.as_str(),
                }
            }

            /// Maps a type string to its variant; never fails (unknown strings are kept).
            pub fn parse(s: &str) -> EventType {
                match s {
                    $($name => EventType::$variant,)+
                    other => EventType::Unknown(other.to_owned()),
                }
            }
        }

        /// The typed view of one event's payload: which type it is and its fields.
        /// Serializes as `{"type": "<type string>", "payload": {...}}`; an unknown type
        /// round-trips through `Unknown` with the payload verbatim.
        // Payloads are moved around one at a time; boxing the big ones would only make
        // pattern matching clumsier for every caller.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventPayload {
            $(
                #[doc = concat!("Payload of `", $name, "`.")]
                $variant($payload),
            )+
            /// An event type this version does not know; the payload is kept verbatim.
            Unknown {
                /// The type string as read.
                event_type: String,
                /// The payload as read.
                payload: serde_json::Value,
            },
        }

        impl EventPayload {
            /// The event type this payload belongs to.
            pub fn event_type(&self) -> EventType {
                match self {
                    $(EventPayload::$variant(_) => EventType::$variant,)+
                    EventPayload::Unknown { event_type, .. } => EventType::parse(event_type),
                }
            }

            /// The payload JSON (what goes into `SessionEvent::payload`).
            pub fn to_value(&self) -> serde_json::Value {
                match self {
                    $(EventPayload::$variant(p) => $crate::events::types::payload_json(p),)+
                    EventPayload::Unknown { payload, .. } => payload.clone(),
                }
            }

            /// Splits into the event type and the payload JSON.
            pub fn into_parts(self) -> (EventType, serde_json::Value) {
                match self {
                    $(EventPayload::$variant(p) => {
                        (EventType::$variant, $crate::events::types::payload_json(&p))
                    })+
                    EventPayload::Unknown { event_type, payload } => {
                        (EventType::parse(&event_type), payload)
                    }
                }
            }

            /// Builds the typed view from a type and its payload JSON. A known type whose
            /// payload does not match its shape is an error; an unknown type never is.
            pub fn from_parts(
                event_type: &EventType,
                payload: serde_json::Value,
            ) -> Result<EventPayload, serde_json::Error> {
                match event_type {
                    $(EventType::$variant => {
                        serde_json::from_value::<$payload>(payload).map(EventPayload::$variant)
                    })+
                    EventType::Unknown(other) => Ok(EventPayload::Unknown {
                        event_type: other.clone(),
                        payload,
                    }),
                }
            }
        }

        impl serde::Serialize for EventPayload {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let event_type = self.event_type();
                let mut st = serializer.serialize_struct("EventPayload", 2)?;
                st.serialize_field("type", event_type.as_str())?;
                match self {
                    $(EventPayload::$variant(p) => st.serialize_field("payload", p)?,)+
                    EventPayload::Unknown { payload, .. } => st.serialize_field("payload", payload)?,
                }
                st.end()
            }
        }

        impl<'de> serde::Deserialize<'de> for EventPayload {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[derive(serde::Deserialize)]
                struct Tagged {
                    #[serde(rename = "type")]
                    event_type: String,
                    #[serde(default)]
                    payload: serde_json::Value,
                }
                let tagged = Tagged::deserialize(deserializer)?;
                EventPayload::from_parts(&EventType::parse(&tagged.event_type), tagged.payload)
                    .map_err(<D::Error as serde::de::Error>::custom)
            }
        }

        $(
            impl From<$payload> for EventPayload {
                fn from(payload: $payload) -> Self {
                    EventPayload::$variant(payload)
                }
            }
        )+
    };
}
