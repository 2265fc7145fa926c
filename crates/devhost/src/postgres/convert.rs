//! Value conversions between the `spin:postgres/postgres@4.0.0` WIT types and tokio-postgres.
//!
//! Parameters go WIT → Rust value implementing `ToSql`; columns go Postgres type → WIT
//! `db-data-type`, and column values → WIT `db-value`. The mapping follows Spin's own host
//! (crates/factor-outbound-pg/src/types.rs). Types with no WIT variant come back as
//! `unsupported` with their raw binary encoding and data type `other(<type name>)`.
//! As in Spin, `json`, `name` and `"char"` columns come back as `unsupported`, and a
//! `timestamptz` column fails the query (Spin reads it as a plain `timestamp`); components
//! cast them (`col AT TIME ZONE 'UTC'`, `col::jsonb`, `col::text`). Matching Spin here keeps
//! a component that works on devhost working on Spin.
//! Not here: connections, pooling, error mapping of database errors (see `host.rs`).

use std::error::Error as StdError;

use bytes::BufMut;
use postgres_range::{BoundSided, BoundType, Normalizable, Range, RangeBound};
use postgres_types::private::BytesMut;
use postgres_types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::Row;

use crate::bindings::spin::postgres::postgres::{
    DbDataType, DbValue, Interval, ParameterValue, RangeBoundKind,
};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A parameter ready to bind.
pub type SqlParam = Box<dyn ToSql + Send + Sync>;

/// The WIT data type of a column of Postgres type `ty`.
pub fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY | Type::NAME_ARRAY => {
            DbDataType::ArrayStr
        }
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

/// Reads column `index` of `row` as a WIT value; NULL is `db-null` whatever the type.
///
/// The error says which column could not be represented (for example `NaN::numeric`, which
/// `rust_decimal` cannot hold, or `infinity::date`).
pub fn db_value(row: &Row, index: usize) -> Result<DbValue, String> {
    let column = &row.columns()[index];
    let value = match *column.type_() {
        Type::BOOL => get(row, index, DbValue::Boolean),
        Type::INT2 => get(row, index, DbValue::Int16),
        Type::INT4 => get(row, index, DbValue::Int32),
        Type::INT8 => get(row, index, DbValue::Int64),
        Type::FLOAT4 => get(row, index, DbValue::Floating32),
        Type::FLOAT8 => get(row, index, DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => get(row, index, DbValue::Str),
        Type::BYTEA => get(row, index, DbValue::Binary),
        Type::DATE => get(row, index, |d: chrono::NaiveDate| {
            DbValue::Date(date_to_wit(d))
        }),
        Type::TIME => get(row, index, |t: chrono::NaiveTime| {
            DbValue::Time(time_to_wit(t))
        }),
        Type::TIMESTAMP => get(row, index, |dt: chrono::NaiveDateTime| {
            DbValue::Datetime(datetime_to_wit(dt))
        }),
        Type::TIMESTAMPTZ => Err(
            "timestamptz is read as a plain timestamp, as Spin does, and cannot be; \
             cast it (`col AT TIME ZONE 'UTC'`)"
                .to_string(),
        ),
        Type::UUID => get(row, index, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
        Type::JSONB => get(row, index, |j: serde_json::Value| {
            DbValue::Jsonb(j.to_string().into_bytes())
        }),
        Type::NUMERIC => get(row, index, |d: rust_decimal::Decimal| {
            DbValue::Decimal(d.to_string())
        }),
        Type::INT4_RANGE => get(row, index, |r: Range<i32>| {
            DbValue::RangeInt32(range_to_wit(&r, |v| *v))
        }),
        Type::INT8_RANGE => get(row, index, |r: Range<i64>| {
            DbValue::RangeInt64(range_to_wit(&r, |v| *v))
        }),
        Type::NUM_RANGE => get(row, index, |r: Range<RangeableDecimal>| {
            DbValue::RangeDecimal(range_to_wit(&r, |v| v.0.to_string()))
        }),
        Type::INT4_ARRAY => get(row, index, DbValue::ArrayInt32),
        Type::INT8_ARRAY => get(row, index, DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => get(row, index, |a: Vec<Option<rust_decimal::Decimal>>| {
            DbValue::ArrayDecimal(a.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY | Type::NAME_ARRAY => {
            get(row, index, DbValue::ArrayStr)
        }
        Type::INTERVAL => get(row, index, |i: PgInterval| DbValue::Interval(i.0)),
        _ => get(row, index, |raw: RawValue| DbValue::Unsupported(raw.0)),
    };
    value.map_err(|e| {
        format!(
            "cannot convert column {:?} of type {}: {e}",
            column.name(),
            column.type_().name()
        )
    })
}

fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: usize,
    to_wit: impl FnOnce(T) -> DbValue,
) -> Result<DbValue, String> {
    let value: Option<T> = row.try_get(index).map_err(|e| match e.source() {
        Some(cause) => cause.to_string(),
        None => e.to_string(),
    })?;
    Ok(value.map_or(DbValue::DbNull, to_wit))
}

/// Turns a WIT parameter into a value to bind; the error says why the value is invalid.
///
/// Whether the value suits the statement's parameter type is the driver's check, made when
/// the statement runs.
pub fn to_sql(value: &ParameterValue) -> Result<SqlParam, String> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date(v) => Box::new(date_from_wit(*v)?),
        ParameterValue::Time(v) => Box::new(time_from_wit(*v)?),
        ParameterValue::Datetime(v) => Box::new(datetime_from_wit(*v)?),
        ParameterValue::Timestamp(v) => Box::new(timestamp_from_wit(*v)?),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).map_err(|e| format!("invalid UUID {v:?}: {e}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .map_err(|e| format!("invalid JSON {:?}: {e}", String::from_utf8_lossy(v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(decimal_from_wit(v)?),
        ParameterValue::RangeInt32(v) => Box::new(discrete_range_from_wit(*v, i32::MAX)?),
        ParameterValue::RangeInt64(v) => Box::new(discrete_range_from_wit(*v, i64::MAX)?),
        ParameterValue::RangeDecimal((lower, upper)) => {
            let bound = |b: &Option<(String, RangeBoundKind)>| {
                b.as_ref()
                    .map(|(v, kind)| decimal_from_wit(v).map(|d| (RangeableDecimal(d), *kind)))
                    .transpose()
            };
            Box::new(range_from_wit((bound(lower)?, bound(upper)?)))
        }
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(decimal_from_wit).transpose())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::Interval(v) => Box::new(PgInterval(*v)),
        ParameterValue::DbNull => Box::new(SqlNull),
    })
}

fn date_to_wit(d: chrono::NaiveDate) -> (i32, u8, u8) {
    use chrono::Datelike;
    // Month and day always fit in a u8.
    (d.year(), d.month() as u8, d.day() as u8)
}

fn time_to_wit(t: chrono::NaiveTime) -> (u8, u8, u8, u32) {
    use chrono::Timelike;
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

fn datetime_to_wit(dt: chrono::NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (y, mo, d) = date_to_wit(dt.date());
    let (h, mi, s, ns) = time_to_wit(dt.time());
    (y, mo, d, h, mi, s, ns)
}

fn date_from_wit((y, m, d): (i32, u8, u8)) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| format!("invalid date y={y}, m={m}, d={d}"))
}

fn time_from_wit((h, m, s, ns): (u8, u8, u8, u32)) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{m}:{s}.{ns:09}"))
}

fn datetime_from_wit(
    (y, mo, d, h, mi, s, ns): (i32, u8, u8, u8, u8, u8, u32),
) -> Result<chrono::NaiveDateTime, String> {
    Ok(chrono::NaiveDateTime::new(
        date_from_wit((y, mo, d))?,
        time_from_wit((h, mi, s, ns))?,
    ))
}

/// `timestamp(s64)` is seconds since the Unix epoch, bound as a `timestamptz` (as Spin does).
fn timestamp_from_wit(secs: i64) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| format!("invalid Unix timestamp {secs}"))
}

fn decimal_from_wit(v: &str) -> Result<rust_decimal::Decimal, String> {
    rust_decimal::Decimal::from_str_exact(v).map_err(|e| format!("invalid decimal {v:?}: {e}"))
}

type WitRange<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn range_to_wit<T: PartialOrd + Normalizable, W>(
    range: &Range<T>,
    to_wit: impl Fn(&T) -> W,
) -> WitRange<W> {
    fn kind(t: BoundType) -> RangeBoundKind {
        match t {
            BoundType::Inclusive => RangeBoundKind::Inclusive,
            BoundType::Exclusive => RangeBoundKind::Exclusive,
        }
    }
    (
        range.lower().map(|b| (to_wit(&b.value), kind(b.type_))),
        range.upper().map(|b| (to_wit(&b.value), kind(b.type_))),
    )
}

fn range_from_wit<T: PartialOrd + Normalizable>((lower, upper): WitRange<T>) -> Range<T> {
    fn bound<S: BoundSided, T: PartialOrd>((value, kind): (T, RangeBoundKind)) -> RangeBound<S, T> {
        let kind = match kind {
            RangeBoundKind::Inclusive => BoundType::Inclusive,
            RangeBoundKind::Exclusive => BoundType::Exclusive,
        };
        RangeBound::new(value, kind)
    }
    Range::new(lower.map(bound), upper.map(bound))
}

/// An integer range; `postgres_range` normalises discrete bounds by adding one, which would
/// overflow (and panic) at the type's maximum, so such a bound is refused here.
fn discrete_range_from_wit<T>(range: WitRange<T>, max: T) -> Result<Range<T>, String>
where
    T: PartialOrd + Normalizable + Copy + std::fmt::Display,
{
    let (lower, upper) = range;
    if let Some((v, RangeBoundKind::Exclusive)) = lower
        && v == max
    {
        return Err(format!("range lower bound ({v} is out of range"));
    }
    if let Some((v, RangeBoundKind::Inclusive)) = upper
        && v == max
    {
        return Err(format!("range upper bound {v}] is out of range"));
    }
    Ok(range_from_wit((lower, upper)))
}

/// NUMERIC as a range element: continuous, so bounds are kept as given.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct RangeableDecimal(rust_decimal::Decimal);

impl Normalizable for RangeableDecimal {
    fn normalize<S: BoundSided>(bound: RangeBound<S, Self>) -> RangeBound<S, Self> {
        bound
    }
}

impl<'a> FromSql<'a> for RangeableDecimal {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        rust_decimal::Decimal::from_sql(ty, raw).map(Self)
    }

    fn accepts(ty: &Type) -> bool {
        <rust_decimal::Decimal as FromSql>::accepts(ty)
    }
}

impl ToSql for RangeableDecimal {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <rust_decimal::Decimal as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// INTERVAL in its binary wire form: microseconds (i64), days (i32), months (i32).
#[derive(Debug)]
struct PgInterval(Interval);

impl ToSql for PgInterval {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let raw: &[u8; 16] = raw
            .try_into()
            .map_err(|_| format!("INTERVAL of {} bytes, expected 16", raw.len()))?;
        let (micros, rest) = raw.split_at(8);
        let (days, months) = rest.split_at(4);
        Ok(Self(Interval {
            micros: i64::from_be_bytes(micros.try_into()?),
            days: i32::from_be_bytes(days.try_into()?),
            months: i32::from_be_bytes(months.try_into()?),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// The raw binary encoding of a value whose type has no WIT variant.
struct RawValue(Vec<u8>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// `db-null`: NULL for a parameter of any type.
#[derive(Debug)]
struct SqlNull;

impl ToSql for SqlNull {
    fn to_sql(&self, _ty: &Type, _out: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(param: &ParameterValue, ty: &Type) -> (IsNull, Vec<u8>) {
        let value = to_sql(param).unwrap();
        let mut buf = BytesMut::new();
        let is_null = value.to_sql_checked(ty, &mut buf).unwrap();
        (is_null, buf.to_vec())
    }

    #[test]
    fn timestamp_parameter_is_seconds_since_the_epoch() {
        let ts = timestamp_from_wit(3723).unwrap();
        assert_eq!(ts.to_rfc3339(), "1970-01-01T01:02:03+00:00");
        let ts = timestamp_from_wit(-86_400).unwrap();
        assert_eq!(ts.to_rfc3339(), "1969-12-31T00:00:00+00:00");
    }

    #[test]
    fn invalid_dates_times_uuids_decimals_and_json_are_refused() {
        for bad in [
            ParameterValue::Date((2023, 2, 29)),
            ParameterValue::Time((24, 0, 0, 0)),
            ParameterValue::Datetime((2024, 13, 1, 0, 0, 0, 0)),
            ParameterValue::Uuid("not-a-uuid".into()),
            ParameterValue::Decimal("1.2.3".into()),
            ParameterValue::Jsonb(b"{not json".to_vec()),
            ParameterValue::ArrayDecimal(vec![Some("1".into()), Some("x".into())]),
            ParameterValue::RangeDecimal((Some(("y".into(), RangeBoundKind::Inclusive)), None)),
        ] {
            assert!(to_sql(&bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn integer_range_bound_at_the_maximum_is_refused_not_a_panic() {
        let upper = ParameterValue::RangeInt32((None, Some((i32::MAX, RangeBoundKind::Inclusive))));
        assert!(to_sql(&upper).unwrap_err().contains("out of range"));
        let lower = ParameterValue::RangeInt64((Some((i64::MAX, RangeBoundKind::Exclusive)), None));
        assert!(to_sql(&lower).unwrap_err().contains("out of range"));
        let fine = ParameterValue::RangeInt32((None, Some((i32::MAX, RangeBoundKind::Exclusive))));
        assert!(to_sql(&fine).is_ok());
    }

    #[test]
    fn decimal_range_keeps_its_bounds_as_given() {
        let range = (
            Some((
                RangeableDecimal("1.5".parse().unwrap()),
                RangeBoundKind::Exclusive,
            )),
            Some((
                RangeableDecimal("2.25".parse().unwrap()),
                RangeBoundKind::Inclusive,
            )),
        );
        let wit = range_to_wit(&range_from_wit(range), |d| d.0.to_string());
        assert_eq!(
            wit,
            (
                Some(("1.5".to_string(), RangeBoundKind::Exclusive)),
                Some(("2.25".to_string(), RangeBoundKind::Inclusive)),
            )
        );
    }

    #[test]
    fn interval_round_trips_through_its_wire_form() {
        let interval = Interval {
            micros: -3_723_000_001,
            days: 40,
            months: -14,
        };
        let (is_null, bytes) = encode(&ParameterValue::Interval(interval), &Type::INTERVAL);
        assert!(matches!(is_null, IsNull::No));
        let back = PgInterval::from_sql(&Type::INTERVAL, &bytes).unwrap().0;
        assert_eq!(
            (back.micros, back.days, back.months),
            (interval.micros, interval.days, interval.months)
        );
        assert!(PgInterval::from_sql(&Type::INTERVAL, &bytes[..15]).is_err());
    }

    #[test]
    fn db_null_binds_as_null_for_any_type() {
        for ty in [Type::INT4, Type::TEXT, Type::JSONB, Type::INET] {
            let (is_null, bytes) = encode(&ParameterValue::DbNull, &ty);
            assert!(matches!(is_null, IsNull::Yes));
            assert!(bytes.is_empty());
        }
    }

    #[test]
    fn types_without_a_wit_variant_are_other_with_their_name() {
        assert!(matches!(data_type(&Type::INET), DbDataType::Other(n) if n == "inet"));
        assert!(matches!(
            data_type(&Type::TIMESTAMPTZ),
            DbDataType::Datetime
        ));
        assert!(matches!(data_type(&Type::CHAR), DbDataType::Other(n) if n == "char"));
        assert!(matches!(data_type(&Type::JSON), DbDataType::Other(n) if n == "json"));
        assert!(matches!(data_type(&Type::NAME), DbDataType::Other(n) if n == "name"));
    }
}
