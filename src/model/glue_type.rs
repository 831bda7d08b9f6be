//! Glue / Athena column types (Hive DDL syntax) as users write them in YAML,
//! e.g. `type: decimal(10,2)` or `type: array<struct<a:int,b:string>>`.
//!
//! The parser is a small hand-written recursive descent over a lazy tokenizer
//! rather than a regex, so that every error can point at the offending token
//! and tell the user what to write instead.

use std::collections::HashSet;
use std::fmt;

/// Deepest `array`/`map`/`struct` nesting accepted. Real schemas stay far
/// below this; the bound exists so hostile input cannot recurse the parser
/// into a stack overflow.
const MAX_DEPTH: usize = 32;

/// Appended to "unknown type" errors so the user sees every spelling we accept.
const EXPECTED: &str = "boolean, tinyint, smallint, int, bigint, float, double, decimal(p,s), \
     string, char(n), varchar(n), date, timestamp, binary, array<T>, map<K,V>, struct<name:T,...>";

const DECIMAL_MAX_PRECISION: u64 = 38;
const CHAR_MAX_LENGTH: u64 = 255;
const VARCHAR_MAX_LENGTH: u64 = 65_535;

/// A parsed Glue/Athena column type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlueType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    /// A bare `decimal` is Hive's default, `decimal(10,0)`.
    Decimal {
        precision: u8,
        scale: u8,
    },
    String,
    Char(u16),
    Varchar(u32),
    Date,
    Timestamp,
    Binary,
    Array(Box<GlueType>),
    Map(Box<GlueType>, Box<GlueType>),
    /// Field names are stored lowercase because Glue and Athena treat column
    /// names case-insensitively and lowercase them on write.
    Struct(Vec<(String, GlueType)>),
}

impl GlueType {
    /// Parses a type string. Case-insensitive, whitespace around tokens tolerated.
    pub fn parse(s: &str) -> Result<GlueType, String> {
        if s.trim().is_empty() {
            return Err(format!("column type is empty; expected one of {EXPECTED}"));
        }
        let mut parser = Parser::new(s);
        let ty = parser.parse_type(0)?;
        let tok = parser.next();
        if tok.kind != Kind::End {
            // `string[]` is how several languages write an array; say how Glue writes it.
            if s.trim_end().ends_with("[]") {
                return Err(format!(
                    "`{}` is not a Glue type; write an array as array<{ty}>",
                    s.trim()
                ));
            }
            return Err(format!(
                "unexpected {} after the complete type {ty}; remove it",
                parser.describe(&tok)
            ));
        }
        Ok(ty)
    }

    fn is_primitive(&self) -> bool {
        !matches!(
            self,
            GlueType::Array(_) | GlueType::Map(..) | GlueType::Struct(_)
        )
    }
}

impl fmt::Display for GlueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlueType::Boolean => f.write_str("boolean"),
            GlueType::TinyInt => f.write_str("tinyint"),
            GlueType::SmallInt => f.write_str("smallint"),
            GlueType::Int => f.write_str("int"),
            GlueType::BigInt => f.write_str("bigint"),
            GlueType::Float => f.write_str("float"),
            GlueType::Double => f.write_str("double"),
            GlueType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            GlueType::String => f.write_str("string"),
            GlueType::Char(n) => write!(f, "char({n})"),
            GlueType::Varchar(n) => write!(f, "varchar({n})"),
            GlueType::Date => f.write_str("date"),
            GlueType::Timestamp => f.write_str("timestamp"),
            GlueType::Binary => f.write_str("binary"),
            GlueType::Array(elem) => write!(f, "array<{elem}>"),
            GlueType::Map(key, value) => write!(f, "map<{key},{value}>"),
            GlueType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}:{ty}")?;
                }
                f.write_str(">")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `[A-Za-z_][A-Za-z0-9_]*`: type keywords and struct field names.
    Ident,
    /// ASCII digits only; signs and other number forms are never valid here.
    Number,
    /// Any other single character, punctuation or not; the grammar decides.
    Symbol(char),
    End,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    /// Byte offset into the source, kept so errors can report a position.
    start: usize,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    peeked: Option<Token<'a>>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            peeked: None,
        }
    }

    fn lex(&mut self) -> Token<'a> {
        let rest = &self.src[self.pos..];
        let trimmed = rest.trim_start();
        let start = self.pos + (rest.len() - trimmed.len());
        let Some(c) = trimmed.chars().next() else {
            self.pos = self.src.len();
            return Token {
                kind: Kind::End,
                text: "",
                start: self.src.len(),
            };
        };
        let (kind, len) = if c.is_ascii_alphabetic() || c == '_' {
            let len = trimmed
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(trimmed.len());
            (Kind::Ident, len)
        } else if c.is_ascii_digit() {
            let len = trimmed
                .find(|ch: char| !ch.is_ascii_digit())
                .unwrap_or(trimmed.len());
            (Kind::Number, len)
        } else {
            (Kind::Symbol(c), c.len_utf8())
        };
        self.pos = start + len;
        Token {
            kind,
            text: &trimmed[..len],
            start,
        }
    }

    fn peek(&mut self) -> Token<'a> {
        match self.peeked {
            Some(tok) => tok,
            None => {
                let tok = self.lex();
                self.peeked = Some(tok);
                tok
            }
        }
    }

    fn next(&mut self) -> Token<'a> {
        match self.peeked.take() {
            Some(tok) => tok,
            None => self.lex(),
        }
    }

    fn peek_is(&mut self, c: char) -> bool {
        self.peek().kind == Kind::Symbol(c)
    }

    /// Renders a token for an error message. Positions are 1-based characters,
    /// not bytes, because that is what a user counts in their editor.
    fn describe(&self, tok: &Token<'_>) -> String {
        if tok.kind == Kind::End {
            return "the end of the type".to_string();
        }
        let column = self.src[..tok.start].chars().count() + 1;
        format!("{:?} at position {column}", truncate(tok.text))
    }

    fn expect(&mut self, c: char, context: &str) -> Result<(), String> {
        let tok = self.next();
        if tok.kind == Kind::Symbol(c) {
            Ok(())
        } else {
            Err(format!(
                "expected \"{c}\" {context} but found {}",
                self.describe(&tok)
            ))
        }
    }

    fn expect_number(&mut self, what: &str, example: &str) -> Result<Token<'a>, String> {
        let tok = self.next();
        if tok.kind == Kind::Number {
            Ok(tok)
        } else {
            Err(format!(
                "expected a number for the {what} but found {}; write e.g. {example}",
                self.describe(&tok)
            ))
        }
    }

    /// `depth` counts the container types enclosing the one being parsed.
    fn parse_type(&mut self, depth: usize) -> Result<GlueType, String> {
        let tok = self.next();
        if tok.kind != Kind::Ident {
            return Err(format!(
                "expected a type but found {}; expected one of {EXPECTED}",
                self.describe(&tok)
            ));
        }
        let name = tok.text.to_ascii_lowercase();
        let ty = match name.as_str() {
            "boolean" => GlueType::Boolean,
            "tinyint" => GlueType::TinyInt,
            "smallint" => GlueType::SmallInt,
            "int" | "integer" => GlueType::Int,
            "bigint" => GlueType::BigInt,
            "float" => GlueType::Float,
            "double" => GlueType::Double,
            "string" => GlueType::String,
            "date" => GlueType::Date,
            "timestamp" => GlueType::Timestamp,
            "binary" => GlueType::Binary,
            "decimal" => self.parse_decimal()?,
            "char" => {
                // parse_length range-checks against 255, so the cast is lossless.
                GlueType::Char(self.parse_length("char", CHAR_MAX_LENGTH)? as u16)
            }
            "varchar" => {
                GlueType::Varchar(self.parse_length("varchar", VARCHAR_MAX_LENGTH)? as u32)
            }
            "array" | "map" | "struct" => {
                if depth >= MAX_DEPTH {
                    return Err(format!(
                        "type is nested more than {MAX_DEPTH} levels deep; flatten it, \
                         or store the innermost part as a string"
                    ));
                }
                return match name.as_str() {
                    "array" => self.parse_array(depth),
                    "map" => self.parse_map(depth),
                    _ => self.parse_struct(depth),
                };
            }
            _ => return Err(unknown_type(tok.text)),
        };
        // Catch habits from other SQL dialects (`int(11)`, `string<...>`) here:
        // left alone they would surface as a vaguer "unexpected ..." error.
        let takes_params = matches!(
            ty,
            GlueType::Decimal { .. } | GlueType::Char(_) | GlueType::Varchar(_)
        );
        if !takes_params && self.peek_is('(') {
            return Err(format!(
                "{ty} does not take parameters; write plain {ty} without \"(...)\""
            ));
        }
        if self.peek_is('<') {
            return Err(format!(
                "{name} does not take \"<...>\"; only array<T>, map<K,V> and \
                 struct<name:T,...> have element types"
            ));
        }
        Ok(ty)
    }

    fn parse_decimal(&mut self) -> Result<GlueType, String> {
        if !self.peek_is('(') {
            return Ok(GlueType::Decimal {
                precision: 10,
                scale: 0,
            });
        }
        self.next();
        let p_tok = self.expect_number("decimal precision", "decimal(10,2)")?;
        let precision = number_value(p_tok.text);
        if !(1..=DECIMAL_MAX_PRECISION).contains(&precision) {
            return Err(format!(
                "decimal precision must be between 1 and {DECIMAL_MAX_PRECISION}, got {}",
                p_tok.text
            ));
        }
        // Hive accepts `decimal(p)` as `decimal(p,0)`, so the scale is optional.
        let tok = self.next();
        let scale = match tok.kind {
            Kind::Symbol(')') => 0,
            Kind::Symbol(',') => {
                let s_tok = self.expect_number("decimal scale", "decimal(10,2)")?;
                let scale = number_value(s_tok.text);
                if scale > precision {
                    return Err(format!(
                        "decimal scale must be between 0 and the precision ({precision}), got {}",
                        s_tok.text
                    ));
                }
                self.expect(')', "to close decimal(p,s)")?;
                scale
            }
            _ => {
                return Err(format!(
                    "expected \",\" or \")\" after the decimal precision but found {}; \
                     write e.g. decimal(10,2)",
                    self.describe(&tok)
                ))
            }
        };
        // Both values were range-checked against 38 above, so they fit in u8.
        Ok(GlueType::Decimal {
            precision: precision as u8,
            scale: scale as u8,
        })
    }

    fn parse_length(&mut self, name: &str, max: u64) -> Result<u64, String> {
        let example = format!("{name}(10)");
        if !self.peek_is('(') {
            return Err(format!("{name} needs a length; write e.g. {example}"));
        }
        self.next();
        let tok = self.expect_number(&format!("{name} length"), &example)?;
        let n = number_value(tok.text);
        if !(1..=max).contains(&n) {
            return Err(format!(
                "{name} length must be between 1 and {max}, got {}",
                tok.text
            ));
        }
        self.expect(')', &format!("to close {name}(n)"))?;
        Ok(n)
    }

    fn parse_array(&mut self, depth: usize) -> Result<GlueType, String> {
        self.expect('<', "after array; write e.g. array<string>")?;
        if self.peek_is('>') {
            return Err("array<> needs an element type; write e.g. array<string>".to_string());
        }
        let elem = self.parse_type(depth + 1)?;
        let tok = self.next();
        match tok.kind {
            Kind::Symbol('>') => Ok(GlueType::Array(Box::new(elem))),
            Kind::Symbol(',') => Err(format!(
                "array<{elem},...> has more than one element type (\",\" at {}); an array \
                 takes exactly one, and key/value pairs need map<K,V>",
                self.describe(&tok)
            )),
            _ => Err(format!(
                "expected \">\" to close array<{elem}> but found {}",
                self.describe(&tok)
            )),
        }
    }

    fn parse_map(&mut self, depth: usize) -> Result<GlueType, String> {
        self.expect('<', "after map; write e.g. map<string,int>")?;
        if self.peek_is('>') {
            return Err(
                "map<> needs a key and a value type; write e.g. map<string,int>".to_string(),
            );
        }
        let key = self.parse_type(depth + 1)?;
        if !key.is_primitive() {
            return Err(format!(
                "map keys must be a primitive type such as string or int, not {key}"
            ));
        }
        let tok = self.next();
        match tok.kind {
            Kind::Symbol(',') => {}
            Kind::Symbol('>') => {
                return Err(format!(
                    "map<{key}> is missing its value type; write e.g. map<{key},string>"
                ))
            }
            _ => {
                return Err(format!(
                    "expected \",\" after the map key type {key} but found {}; \
                     write e.g. map<string,int>",
                    self.describe(&tok)
                ))
            }
        }
        let value = self.parse_type(depth + 1)?;
        let tok = self.next();
        match tok.kind {
            Kind::Symbol('>') => Ok(GlueType::Map(Box::new(key), Box::new(value))),
            Kind::Symbol(',') => Err(
                "map takes exactly two types, a key and a value; write e.g. map<string,int>"
                    .to_string(),
            ),
            _ => Err(format!(
                "expected \">\" to close map<{key},{value}> but found {}",
                self.describe(&tok)
            )),
        }
    }

    fn parse_struct(&mut self, depth: usize) -> Result<GlueType, String> {
        self.expect('<', "after struct; write e.g. struct<name:string>")?;
        if self.peek_is('>') {
            return Err(
                "struct<> needs at least one field; write e.g. struct<name:string>".to_string(),
            );
        }
        let mut fields = Vec::new();
        // A set rather than scanning `fields` keeps huge structs linear.
        let mut seen = HashSet::new();
        loop {
            let name_tok = self.next();
            match name_tok.kind {
                Kind::Ident => {}
                Kind::Symbol('>') if !fields.is_empty() => {
                    return Err(format!(
                        "struct has a trailing comma before {}; remove it",
                        self.describe(&name_tok)
                    ))
                }
                _ => {
                    return Err(format!(
                        "expected a struct field name but found {}; field names must start \
                         with a letter or underscore and contain only letters, digits and \
                         underscores",
                        self.describe(&name_tok)
                    ))
                }
            }
            let name = name_tok.text.to_ascii_lowercase();
            if !seen.insert(name.clone()) {
                return Err(format!(
                    "struct field {:?} appears more than once (field names are \
                     case-insensitive); rename or remove one of them",
                    truncate(name_tok.text)
                ));
            }
            let colon = self.next();
            if colon.kind != Kind::Symbol(':') {
                return Err(format!(
                    "expected \":\" after struct field {:?} but found {}; write name:type, \
                     e.g. {}:string, and use only letters, digits and underscores in \
                     field names",
                    truncate(name_tok.text),
                    self.describe(&colon),
                    truncate(&name)
                ));
            }
            let ty = self.parse_type(depth + 1)?;
            fields.push((name, ty));
            let tok = self.next();
            match tok.kind {
                Kind::Symbol(',') => {}
                Kind::Symbol('>') => return Ok(GlueType::Struct(fields)),
                _ => {
                    return Err(format!(
                        "expected \",\" or \">\" after struct field {:?} but found {}",
                        truncate(name_tok.text),
                        self.describe(&tok)
                    ))
                }
            }
        }
    }
}

/// Saturates instead of overflowing: any value that large is out of range
/// anyway, and the error message quotes the user's original digits.
fn number_value(digits: &str) -> u64 {
    digits.bytes().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}

fn unknown_type(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let alias = match lower.as_str() {
        "long" | "int64" => Some("bigint"),
        "short" | "int16" => Some("smallint"),
        "byte" | "int8" => Some("tinyint"),
        "int32" => Some("int"),
        "bool" => Some("boolean"),
        "text" | "str" => Some("string"),
        "datetime" => Some("timestamp"),
        "real" | "float32" => Some("float"),
        "float64" => Some("double"),
        "number" | "numeric" => Some("decimal(p,s)"),
        "bytes" | "blob" | "varbinary" => Some("binary"),
        "list" => Some("array<T>"),
        "row" | "object" | "record" => Some("struct<name:T,...>"),
        _ => closest_type_name(&lower),
    };
    match alias {
        Some(a) => format!("unknown type {word:?} (did you mean {a}?); expected one of {EXPECTED}"),
        None => format!("unknown type {word:?}; expected one of {EXPECTED}"),
    }
}

/// Keeps error messages readable when a token is pathologically long.
fn truncate(s: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

/// Suggests a keyword for likely typos such as `strnig`.
fn closest_type_name(word: &str) -> Option<&'static str> {
    const NAMES: [&str; 17] = [
        "boolean",
        "tinyint",
        "smallint",
        "int",
        "integer",
        "bigint",
        "float",
        "double",
        "decimal",
        "string",
        "char",
        "varchar",
        "date",
        "timestamp",
        "binary",
        "array",
        "struct",
    ];
    // Longer words cannot be within two edits of any keyword; skipping them
    // also keeps the quadratic distance computation cheap on huge input.
    if word.len() > 12 || word.len() < 3 {
        return None;
    }
    NAMES
        .iter()
        .map(|name| (strsim::osa_distance(word, name), *name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(fields: &[(&str, GlueType)]) -> GlueType {
        GlueType::Struct(
            fields
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect(),
        )
    }

    fn arr(t: GlueType) -> GlueType {
        GlueType::Array(Box::new(t))
    }

    fn map(k: GlueType, v: GlueType) -> GlueType {
        GlueType::Map(Box::new(k), Box::new(v))
    }

    #[test]
    fn parses_valid_types() {
        use GlueType::*;
        let cases: Vec<(&str, GlueType, &str)> = vec![
            ("boolean", Boolean, "boolean"),
            ("tinyint", TinyInt, "tinyint"),
            ("smallint", SmallInt, "smallint"),
            ("int", Int, "int"),
            ("integer", Int, "int"),
            ("INTEGER", Int, "int"),
            ("bigint", BigInt, "bigint"),
            ("float", Float, "float"),
            ("double", Double, "double"),
            ("string", String, "string"),
            ("  String  ", String, "string"),
            ("date", Date, "date"),
            ("timestamp", Timestamp, "timestamp"),
            ("binary", Binary, "binary"),
            ("\tBINARY\n", Binary, "binary"),
            (
                "decimal",
                Decimal {
                    precision: 10,
                    scale: 0,
                },
                "decimal(10,0)",
            ),
            (
                "decimal(10,2)",
                Decimal {
                    precision: 10,
                    scale: 2,
                },
                "decimal(10,2)",
            ),
            (
                "DECIMAL ( 38 , 38 )",
                Decimal {
                    precision: 38,
                    scale: 38,
                },
                "decimal(38,38)",
            ),
            (
                "decimal(1,0)",
                Decimal {
                    precision: 1,
                    scale: 0,
                },
                "decimal(1,0)",
            ),
            (
                "decimal(5)",
                Decimal {
                    precision: 5,
                    scale: 0,
                },
                "decimal(5,0)",
            ),
            (
                "decimal(007,02)",
                Decimal {
                    precision: 7,
                    scale: 2,
                },
                "decimal(7,2)",
            ),
            ("char(1)", Char(1), "char(1)"),
            ("char(255)", Char(255), "char(255)"),
            ("varchar(1)", Varchar(1), "varchar(1)"),
            ("VarChar( 65535 )", Varchar(65535), "varchar(65535)"),
            ("array<int>", arr(Int), "array<int>"),
            ("ARRAY < STRING >", arr(String), "array<string>"),
            ("array<array<int>>", arr(arr(Int)), "array<array<int>>"),
            (
                "map<string,bigint>",
                map(String, BigInt),
                "map<string,bigint>",
            ),
            (
                "map< string , array<int> >",
                map(String, arr(Int)),
                "map<string,array<int>>",
            ),
            (
                "map<decimal(10,2),map<int,string>>",
                map(
                    Decimal {
                        precision: 10,
                        scale: 2,
                    },
                    map(Int, String),
                ),
                "map<decimal(10,2),map<int,string>>",
            ),
            ("map<date,int>", map(Date, Int), "map<date,int>"),
            (
                "array<struct<a:int,b:string>>",
                arr(st(&[("a", Int), ("b", String)])),
                "array<struct<a:int,b:string>>",
            ),
            (
                "struct< Name : String , _id:BIGINT, x9:array<int> >",
                st(&[("name", String), ("_id", BigInt), ("x9", arr(Int))]),
                "struct<name:string,_id:bigint,x9:array<int>>",
            ),
            (
                "struct<int:int,struct:struct<map:map<string,string>>>",
                st(&[
                    ("int", Int),
                    ("struct", st(&[("map", map(String, String))])),
                ]),
                "struct<int:int,struct:struct<map:map<string,string>>>",
            ),
        ];
        for (input, want, canonical) in cases {
            let got = GlueType::parse(input)
                .unwrap_or_else(|e| panic!("{input:?} should parse, got error: {e}"));
            assert_eq!(got, want, "input {input:?}");
            assert_eq!(got.to_string(), canonical, "display of {input:?}");
            assert_eq!(
                GlueType::parse(canonical).as_ref(),
                Ok(&got),
                "canonical form of {input:?} must round-trip"
            );
        }
    }

    #[test]
    fn rejects_invalid_types() {
        let cases: &[(&str, &str)] = &[
            ("", "column type is empty"),
            ("   ", "column type is empty"),
            (
                "strnig",
                "unknown type \"strnig\" (did you mean string?); expected one of boolean, \
                 tinyint, smallint, int, bigint, float, double, decimal(p,s), string, char(n), \
                 varchar(n), date, timestamp, binary, array<T>, map<K,V>, struct<name:T,...>",
            ),
            ("long", "unknown type \"long\" (did you mean bigint?)"),
            ("uuid", "unknown type \"uuid\"; expected one of"),
            (
                "decimal(40,2)",
                "decimal precision must be between 1 and 38, got 40",
            ),
            (
                "decimal(0,0)",
                "decimal precision must be between 1 and 38, got 0",
            ),
            (
                "decimal(99999999999999999999999,1)",
                "decimal precision must be between 1 and 38, got 99999999999999999999999",
            ),
            (
                "decimal(10,11)",
                "decimal scale must be between 0 and the precision (10), got 11",
            ),
            ("decimal(", "expected a number for the decimal precision"),
            ("decimal(1,", "expected a number for the decimal scale"),
            (
                "decimal(10 2)",
                "expected \",\" or \")\" after the decimal precision",
            ),
            ("decimal(10,2", "expected \")\" to close decimal(p,s)"),
            (
                "decimal(-1,0)",
                "expected a number for the decimal precision",
            ),
            ("decimal(1.5)", "expected \",\" or \")\""),
            ("char", "char needs a length; write e.g. char(10)"),
            ("char(0)", "char length must be between 1 and 255, got 0"),
            (
                "char(256)",
                "char length must be between 1 and 255, got 256",
            ),
            ("varchar", "varchar needs a length"),
            (
                "varchar(65536)",
                "varchar length must be between 1 and 65535, got 65536",
            ),
            ("varchar(10", "expected \")\" to close varchar(n)"),
            ("int(11)", "int does not take parameters"),
            ("integer(11)", "int does not take parameters"),
            ("string<int>", "string does not take \"<...>\""),
            ("array", "expected \"<\" after array"),
            ("array(int)", "expected \"<\" after array"),
            ("array<>", "array<> needs an element type"),
            ("array<", "expected a type but found the end of the type"),
            ("array<int", "expected \">\" to close array<int>"),
            (
                "array<int,string>",
                "array<int,...> has more than one element type",
            ),
            (
                "array<int>>",
                "unexpected \">\" at position 11 after the complete type array<int>",
            ),
            (
                "int int",
                "unexpected \"int\" at position 5 after the complete type int",
            ),
            ("int;", "unexpected \";\""),
            ("string[]", "write an array as array<string>"),
            ("Array<INT> []", "write an array as array<array<int>>"),
            ("map<int>", "map<int> is missing its value type"),
            ("map<>", "map<> needs a key and a value type"),
            ("map<string,int,int>", "map takes exactly two types"),
            (
                "map<array<int>,string>",
                "map keys must be a primitive type such as string or int, not array<int>",
            ),
            (
                "map<struct<a:int>,int>",
                "map keys must be a primitive type",
            ),
            ("map<map<int,int>,int>", "map keys must be a primitive type"),
            (
                "map<string int>",
                "expected \",\" after the map key type string",
            ),
            ("struct<>", "struct<> needs at least one field"),
            (
                "struct<:int>",
                "expected a struct field name but found \":\" at position 8",
            ),
            (
                "struct<1a:int>",
                "expected a struct field name but found \"1\"",
            ),
            ("struct<a int>", "expected \":\" after struct field \"a\""),
            ("struct<a-b:int>", "expected \":\" after struct field \"a\""),
            ("struct<a:int,>", "struct has a trailing comma"),
            (
                "struct<a:int,A:string>",
                "struct field \"A\" appears more than once",
            ),
            (
                "struct<a:int b:int>",
                "expected \",\" or \">\" after struct field \"a\"",
            ),
            ("struct<a:>", "expected a type but found \">\""),
            (
                "struct<a:int",
                "expected \",\" or \">\" after struct field \"a\" but found the end",
            ),
            ("<", "expected a type but found \"<\" at position 1"),
            ("42", "expected a type but found \"42\""),
            ("ström", "unknown type \"str\""),
            ("é", "expected a type but found \"é\" at position 1"),
            (
                "struct<é:int>",
                "expected a struct field name but found \"é\" at position 8",
            ),
        ];
        for (input, want) in cases {
            match GlueType::parse(input) {
                Ok(t) => panic!("{input:?} should be rejected, parsed as {t:?}"),
                Err(e) => assert!(
                    e.contains(want),
                    "error for {input:?} should contain {want:?}, got {e:?}"
                ),
            }
        }
    }

    #[test]
    fn nesting_limit_is_exactly_max_depth() {
        let nest = |n: usize| format!("{}int{}", "array<".repeat(n), ">".repeat(n));
        let ok = GlueType::parse(&nest(MAX_DEPTH)).expect("32 levels must parse");
        assert_eq!(ok.to_string(), nest(MAX_DEPTH));
        let err = GlueType::parse(&nest(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.contains("nested more than 32 levels"), "{err}");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let deep = [
            "array<".repeat(10_000),
            format!("{}int{}", "array<".repeat(10_000), ">".repeat(10_000)),
            "struct<a:".repeat(10_000),
            "map<string,".repeat(10_000),
            "map<".repeat(10_000),
            "(".repeat(10_000),
            format!("struct<{}>", "a:int,".repeat(10_000)),
            format!(
                "struct<{}z:int>",
                (0..10_000)
                    .map(|i| format!("f{i}:int,"))
                    .collect::<String>()
            ),
            "9".repeat(10_000),
            format!("decimal({},2)", "9".repeat(5_000)),
            format!("char({})", "0".repeat(5_000)),
            "a".repeat(100_000),
        ];
        let odd = [
            "",
            " ",
            "<",
            ">",
            "<>",
            ",",
            ":",
            "(",
            ")",
            "()",
            "array<",
            "array<<",
            "array>",
            "array<int>>",
            "array<int><",
            "decimal(",
            "decimal(1,",
            "decimal(1,)",
            "decimal()",
            "decimal(,)",
            "decimal(1,2,3)",
            "decimal)",
            "char(",
            "char()",
            "char(1",
            "map<int>",
            "map<int,",
            "map<,int>",
            "map<int,>",
            "map",
            "struct",
            "struct<",
            "struct<:int>",
            "struct<a>",
            "struct<a:",
            "struct<a:int",
            "struct<a:int,",
            "struct<,>",
            "\0",
            "int\0",
            "\u{feff}int",
            "int\u{200b}",
            "ïnt",
            "数组<int>",
            "🦀",
            "array<🦀>",
            "struct<🦀:int>",
            "decimal(١٠,٢)",
            "\u{85}int\u{a0}",
            "int\r\n",
            "_",
            "__",
            "struct<_:int>",
            "-",
            "+1",
            "decimal(+1,0)",
            "decimal(1e3)",
            "map<string,int>junk",
        ];
        for input in deep.iter().map(String::as_str).chain(odd) {
            let result = std::panic::catch_unwind(|| GlueType::parse(input));
            let Ok(parsed) = result else {
                panic!("parse panicked on {:?}", truncate(input))
            };
            if let Ok(t) = parsed {
                assert_eq!(GlueType::parse(&t.to_string()), Ok(t));
            }
        }
    }

    #[test]
    fn never_panics_on_generated_input() {
        // Deterministic xorshift so the test is reproducible without a rand crate.
        let alphabet: Vec<&str> = vec![
            "array",
            "map",
            "struct",
            "decimal",
            "char",
            "varchar",
            "int",
            "string",
            "a",
            "B",
            "<",
            ">",
            "(",
            ")",
            ",",
            ":",
            " ",
            "1",
            "38",
            "0",
            "é",
            "🦀",
            "9999999999999999999",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let input: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if let Ok(t) = GlueType::parse(&input) {
                assert_eq!(
                    GlueType::parse(&t.to_string()),
                    Ok(t),
                    "round trip of {input:?}"
                );
            }
        }
    }
}
