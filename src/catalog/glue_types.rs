//! Glue (Hive) column type strings → Arrow types.
//!
//! `timestamp` maps to a UTC timestamp (`timestamptz` on the wire): the lake stores UTC
//! instants, as Athena assumes, and DESIGN.md fixes timestamps as `timestamptz`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};

/// Parses a Glue type such as `decimal(12,2)` or `struct<type:string,os:string>`.
pub fn parse_glue_type(text: &str) -> Result<DataType, String> {
    let mut parser = TypeParser { rest: text.trim() };
    let ty = parser.parse()?;
    if parser.rest.trim().is_empty() {
        Ok(ty)
    } else {
        Err(format!("unexpected {:?} after the type", parser.rest))
    }
}

struct TypeParser<'a> {
    rest: &'a str,
}

impl TypeParser<'_> {
    fn parse(&mut self) -> Result<DataType, String> {
        let name = self.ident().to_ascii_lowercase();
        match name.as_str() {
            "boolean" => Ok(DataType::Boolean),
            "tinyint" => Ok(DataType::Int8),
            "smallint" => Ok(DataType::Int16),
            "int" | "integer" => Ok(DataType::Int32),
            "bigint" | "long" => Ok(DataType::Int64),
            "float" | "real" => Ok(DataType::Float32),
            "double" => Ok(DataType::Float64),
            "string" => Ok(DataType::Utf8),
            "varchar" | "char" => self.optional_args().map(|_| DataType::Utf8),
            "binary" => Ok(DataType::Binary),
            "date" => Ok(DataType::Date32),
            "timestamp" => Ok(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into()),
            )),
            "decimal" => self.decimal(),
            "array" => {
                let item = self.angle(|p| p.parse())?;
                Ok(DataType::List(Arc::new(Field::new("item", item, true))))
            }
            "map" => self.map(),
            "struct" => self.structure(),
            "" => Err("missing type name".to_owned()),
            other => Err(format!("unsupported type {other:?}")),
        }
    }

    fn ident(&mut self) -> &str {
        self.rest = self.rest.trim_start();
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        let (ident, rest) = self.rest.split_at(end);
        self.rest = rest;
        ident
    }

    fn eat(&mut self, token: char) -> bool {
        self.rest = self.rest.trim_start();
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, token: char) -> Result<(), String> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(format!("expected '{token}' at {:?}", self.rest))
        }
    }

    fn optional_args(&mut self) -> Result<Vec<u32>, String> {
        let mut args = Vec::new();
        if self.eat('(') {
            loop {
                let n = self.ident();
                args.push(
                    n.parse()
                        .map_err(|_| format!("expected a number, got {n:?}"))?,
                );
                if !self.eat(',') {
                    break;
                }
            }
            self.expect(')')?;
        }
        Ok(args)
    }

    fn decimal(&mut self) -> Result<DataType, String> {
        let args = self.optional_args()?;
        let (precision, scale) = match args.as_slice() {
            [] => (10, 0), // Hive's default for a bare `decimal`
            [p] => (*p, 0),
            [p, s] => (*p, *s),
            _ => return Err("decimal takes at most two arguments".to_owned()),
        };
        if !(1..=38).contains(&precision) || scale > precision {
            return Err(format!("invalid decimal({precision},{scale})"));
        }
        Ok(DataType::Decimal128(precision as u8, scale as i8))
    }

    fn angle<T>(
        &mut self,
        inner: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<T, String> {
        self.expect('<')?;
        let value = inner(self)?;
        self.expect('>')?;
        Ok(value)
    }

    fn map(&mut self) -> Result<DataType, String> {
        let (key, value) = self.angle(|p| {
            let key = p.parse()?;
            p.expect(',')?;
            Ok((key, p.parse()?))
        })?;
        let entries = Fields::from(vec![
            Field::new("key", key, false),
            Field::new("value", value, true),
        ]);
        let entries = Field::new("entries", DataType::Struct(entries), false);
        Ok(DataType::Map(Arc::new(entries), false))
    }

    fn structure(&mut self) -> Result<DataType, String> {
        let fields = self.angle(|p| {
            let mut fields = Vec::new();
            loop {
                let name = p.ident().to_owned();
                p.expect(':')?;
                fields.push(Field::new(name, p.parse()?, true));
                if !p.eat(',') {
                    return Ok(fields);
                }
            }
        })?;
        Ok(DataType::Struct(Fields::from(fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_decimals() {
        assert_eq!(parse_glue_type("bigint").unwrap(), DataType::Int64);
        assert_eq!(
            parse_glue_type("DECIMAL(12, 2)").unwrap(),
            DataType::Decimal128(12, 2)
        );
        assert_eq!(parse_glue_type("varchar(20)").unwrap(), DataType::Utf8);
        assert!(matches!(
            parse_glue_type("timestamp").unwrap(),
            DataType::Timestamp(TimeUnit::Microsecond, Some(_))
        ));
    }

    #[test]
    fn nested_types() {
        let ty = parse_glue_type("struct<type:string,os:array<string>>").unwrap();
        let DataType::Struct(fields) = ty else {
            panic!("{ty:?}")
        };
        assert_eq!(fields.len(), 2);
        assert!(matches!(fields[1].data_type(), DataType::List(_)));
        assert!(matches!(
            parse_glue_type("map<string,int>").unwrap(),
            DataType::Map(..)
        ));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(parse_glue_type("uniontype<int,string>")
            .unwrap_err()
            .contains("unsupported"));
        assert!(parse_glue_type("decimal(40,2)").is_err());
        assert!(parse_glue_type("array<int").is_err());
    }
}
