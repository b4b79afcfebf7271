//! A serde `Serializer` that builds a [`Value`] straight from a model, with
//! the same result as `Value::from_json_owned(serde_json::to_value(model))`
//! but without the intermediate `serde_json::Value` tree (its index map
//! hashes every key, and every string is allocated twice).
//!
//! The one difference: a size or time span of `xshell_core::types`
//! becomes a typed value ([`Value::Size`], [`Value::TimeSpan`]) where
//! serde_json has its text; both write the same JSON.
//!
//! The mapping otherwise follows serde_json's: integers that fit in `i64` become
//! `Int`, larger ones and finite floats their JSON text, non-finite floats
//! `Null`; enums as externally tagged maps; maps need string (or integer,
//! or bool) keys, and a repeated key keeps its first position with the last
//! value, as serde_json's order-preserving map does.

use serde::ser::{self, Serialize};
use std::fmt;

use crate::value::Value;
use xshell_core::types::{SIZE_LIMIT_NEWTYPE, SizeLimit, TIME_SPAN_NEWTYPE, TimeSpan};

/// Why a model could not become a value (serde_json would fail the same way).
#[derive(Debug)]
pub struct SerError(String);

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerError(msg.to_string())
    }
}

/// Serializes `v` into a [`Value`].
pub fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value, SerError> {
    v.serialize(ValueSerializer { only: None })
}

/// [`to_value`], except that a struct at the top keeps only the fields named
/// in `only` (by serialized name, exactly): the others are skipped before
/// their values are built.
pub fn to_value_only<T: Serialize + ?Sized>(v: &T, only: &[&str]) -> Result<Value, SerError> {
    v.serialize(ValueSerializer { only: Some(only) })
}

fn insert(map: &mut Vec<(String, Value)>, k: String, v: Value) {
    match map.iter_mut().find(|(key, _)| *key == k) {
        Some(slot) => slot.1 = v,
        None => map.push((k, v)),
    }
}

fn u64_value(v: u64) -> Value {
    match i64::try_from(v) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Str(v.to_string()),
    }
}

fn f64_value(v: f64) -> Value {
    match serde_json::Number::from_f64(v) {
        Some(n) => Value::Str(n.to_string()),
        None => Value::Null,
    }
}

/// `only`: the fields a struct at this level keeps (all when `None`);
/// nested values are always whole.
pub struct ValueSerializer<'a> {
    only: Option<&'a [&'a str]>,
}

impl<'a> ser::Serializer for ValueSerializer<'a> {
    type Ok = Value;
    type Error = SerError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantSeq;
    type SerializeMap = MapBuilder;
    type SerializeStruct = StructBuilder<'a>;
    type SerializeStructVariant = VariantStruct;

    fn serialize_bool(self, v: bool) -> Result<Value, SerError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, SerError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, SerError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, SerError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, SerError> {
        Ok(Value::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, SerError> {
        match i64::try_from(v) {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => match u64::try_from(v) {
                Ok(u) => Ok(u64_value(u)),
                Err(_) => Err(SerError("number out of range".into())),
            },
        }
    }
    fn serialize_u8(self, v: u8) -> Result<Value, SerError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, SerError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, SerError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, SerError> {
        Ok(u64_value(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, SerError> {
        match u64::try_from(v) {
            Ok(u) => Ok(u64_value(u)),
            Err(_) => Err(SerError("number out of range".into())),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<Value, SerError> {
        // serde_json keeps an f32's shortest text ("0.1", not 0.1f64's digits).
        match serde_json::to_value(v) {
            Ok(serde_json::Value::Number(n)) => Ok(Value::Str(n.to_string())),
            _ => Ok(Value::Null),
        }
    }
    fn serialize_f64(self, v: f64) -> Result<Value, SerError> {
        Ok(f64_value(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, SerError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, SerError> {
        Ok(Value::Str(v.to_string()))
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, v: &T) -> Result<Value, SerError> {
        // The default formats into a String and then copies it; room for
        // the usual texts (address spaces, sizes) saves regrowing it.
        let mut s = String::with_capacity(32);
        fmt::write(&mut s, format_args!("{v}"))
            .map_err(|_| SerError("a value could not be written as text".into()))?;
        Ok(Value::Str(s))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, SerError> {
        Ok(Value::List(
            v.iter().map(|b| Value::Int(i64::from(*b))).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Value, SerError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, SerError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, SerError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, SerError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, SerError> {
        Ok(Value::Str(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<Value, SerError> {
        // Sizes and time spans serialize their text under a marker name:
        // they become typed values (shown and written as the same text).
        let typed = |v: &Value| -> Option<Value> {
            let Value::Str(t) = v else { return None };
            if name == SIZE_LIMIT_NEWTYPE {
                t.parse::<SizeLimit>().ok().map(Value::Size)
            } else if name == TIME_SPAN_NEWTYPE {
                t.parse::<TimeSpan>()
                    .ok()
                    .map(|s| Value::TimeSpan(crate::datetime::span_secs(s.as_secs())))
            } else {
                None
            }
        };
        let v = v.serialize(self)?;
        Ok(typed(&v).unwrap_or(v))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Value, SerError> {
        Ok(Value::Map(vec![(variant.to_string(), to_value(v)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, SerError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqBuilder, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSeq, SerError> {
        Ok(VariantSeq(variant, Vec::with_capacity(len)))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, SerError> {
        Ok(MapBuilder {
            map: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<StructBuilder<'a>, SerError> {
        let len = self.only.map_or(len, |o| o.len().min(len));
        Ok(StructBuilder {
            fields: Vec::with_capacity(len),
            only: self.only,
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantStruct, SerError> {
        Ok(VariantStruct(variant, Vec::with_capacity(len)))
    }
}

pub struct SeqBuilder(Vec<Value>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        self.0.push(to_value(v)?);
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::List(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, SerError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, SerError> {
        ser::SerializeSeq::end(self)
    }
}

pub struct VariantSeq(&'static str, Vec<Value>);

impl ser::SerializeTupleVariant for VariantSeq {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        self.1.push(to_value(v)?);
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Map(vec![(self.0.to_string(), Value::List(self.1))]))
    }
}

pub struct MapBuilder {
    map: Vec<(String, Value)>,
    key: Option<String>,
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), SerError> {
        // serde_json's rule for map keys: strings, and integers, bools and
        // chars as their text; anything else is an error.
        let key = match to_value(k)? {
            Value::Str(s) => s,
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(SerError("key must be a string".into())),
        };
        self.key = Some(key);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| SerError("serialize_value called before serialize_key".into()))?;
        insert(&mut self.map, key, to_value(v)?);
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Map(self.map))
    }
}

pub struct StructBuilder<'a> {
    fields: Vec<(String, Value)>,
    only: Option<&'a [&'a str]>,
}

impl ser::SerializeStruct for StructBuilder<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        k: &'static str,
        v: &T,
    ) -> Result<(), SerError> {
        if self.only.is_some_and(|only| !only.contains(&k)) {
            return Ok(());
        }
        // A derived Serialize names each field once: no need to look for
        // a repeated key as a map must.
        self.fields.push((k.to_string(), to_value(v)?));
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Map(self.fields))
    }
}

pub struct VariantStruct(&'static str, Vec<(String, Value)>);

impl ser::SerializeStructVariant for VariantStruct {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        k: &'static str,
        v: &T,
    ) -> Result<(), SerError> {
        insert(&mut self.1, k.to_string(), to_value(v)?);
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(Value::Map(vec![(self.0.to_string(), Value::Map(self.1))]))
    }
}

#[cfg(test)]
mod tests {
    use super::{to_value, to_value_only};
    use crate::value::Value;
    use std::collections::BTreeMap;

    fn via_json<T: serde::Serialize>(v: &T) -> Value {
        Value::from_json_owned(serde_json::to_value(v).unwrap())
    }

    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Sample {
        name: String,
        big: u64,
        small: i8,
        ratio: f64,
        nan: f64,
        short: f32,
        flag: bool,
        none: Option<String>,
        list: Vec<u16>,
        map: BTreeMap<u32, String>,
        unit: Kind,
        newtype: Kind,
        tuple: Kind,
        strukt: Kind,
        pair: (char, ()),
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
    }

    #[derive(serde::Serialize)]
    enum Kind {
        Unit,
        New(i32),
        Tuple(i32, String),
        Struct { a: bool },
    }

    #[test]
    fn same_as_through_serde_json() {
        let s = Sample {
            name: "x".into(),
            big: u64::MAX,
            small: -3,
            ratio: 1.5,
            nan: f64::NAN,
            short: 0.1,
            flag: true,
            none: None,
            list: vec![1, 2],
            map: [(2, "b".to_string()), (1, "a".to_string())].into(),
            unit: Kind::Unit,
            newtype: Kind::New(7),
            tuple: Kind::Tuple(1, "t".into()),
            strukt: Kind::Struct { a: false },
            pair: ('c', ()),
            skipped: None,
        };
        assert_eq!(to_value(&s).unwrap(), via_json(&s));
        let m: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        assert!(to_value(&m).is_err());
        assert!(serde_json::to_value(&m).is_err());
    }

    #[test]
    fn models_are_the_same_as_through_serde_json() {
        // The same JSON; sizes and time spans are typed values here.
        let mut c = xshell_core::model::SendConnector::new("Out");
        c.comment = Some("a\nb".into());
        let v = to_value(&c).unwrap();
        assert_eq!(v.to_json(), serde_json::to_value(&c).unwrap());
        let Value::Map(props) = v else {
            panic!("a struct is a map")
        };
        assert!(matches!(
            props.iter().find(|(k, _)| k == "MaxMessageSize"),
            Some((_, Value::Size(_)))
        ));
        let cfg = xshell_core::model::OrgConfig::default();
        assert_eq!(
            to_value(&cfg).unwrap().to_json(),
            serde_json::to_value(&cfg).unwrap()
        );
    }

    #[test]
    fn only_keeps_the_named_fields_of_the_top_struct() {
        let mut c = xshell_core::model::SendConnector::new("Out");
        c.address_spaces = vec!["SMTP:b.example;2".parse().unwrap()];
        let Value::Map(all) = to_value(&c).unwrap() else {
            panic!("a struct is a map")
        };
        // In the struct's order, whatever the order asked; unknown names and
        // a different case match nothing.
        let only = ["Enabled", "AddressSpaces", "NoSuchField", "name"];
        let Value::Map(some) = to_value_only(&c, &only).unwrap() else {
            panic!("a struct is a map")
        };
        let expected: Vec<(String, Value)> = all
            .into_iter()
            .filter(|(k, _)| k == "AddressSpaces" || k == "Enabled")
            .collect();
        assert_eq!(some, expected);
        assert_eq!(
            some[0].1,
            Value::List(vec![Value::Str("SMTP:b.example;2".into())])
        );
        // Nested structs are whole, and a value that is not a struct is as is.
        let nested = vec![c.clone()];
        assert_eq!(
            to_value_only(&nested, &only).unwrap(),
            to_value(&nested).unwrap()
        );
        assert_eq!(to_value_only(&Some(7u8), &only).unwrap(), Value::Int(7));
    }

    /// Sizes and time spans become typed values here, and stay plain text
    /// in JSON and YAML (the store and the organization file).
    #[test]
    fn sizes_and_spans_are_typed_here_and_text_elsewhere() {
        use xshell_core::types::{SizeLimit, TimeSpan};
        #[derive(serde::Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Limits {
            max: SizeLimit,
            none: SizeLimit,
            timeout: TimeSpan,
        }
        let l = Limits {
            max: SizeLimit::mb(10),
            none: SizeLimit::Unlimited,
            timeout: TimeSpan::days(2),
        };
        let v = to_value(&l).unwrap();
        assert_eq!(
            v,
            Value::Map(vec![
                ("Max".into(), Value::Size(SizeLimit::mb(10))),
                ("None".into(), Value::Size(SizeLimit::Unlimited)),
                ("Timeout".into(), Value::TimeSpan(time::Duration::days(2))),
            ])
        );
        let json =
            r#"{"Max":"10 MB (10,485,760 bytes)","None":"Unlimited","Timeout":"2.00:00:00"}"#;
        assert_eq!(serde_json::to_string(&l).unwrap(), json);
        assert_eq!(serde_json::to_string(&v).unwrap(), json);
        assert_eq!(
            serde_norway::to_string(&l).unwrap(),
            "Max: 10 MB (10,485,760 bytes)\nNone: Unlimited\nTimeout: 2.00:00:00\n"
        );
    }
}
