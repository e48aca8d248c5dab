//! Field limits, as WeChat Pay Score v3 sets them (merchants already know
//! them). Each check names the offending field by its proto path.

use super::order::{Bill, BillLine, Terms};
use super::{DomainError, Fen};

pub type Check = Result<(), DomainError>;

fn invalid(field: &'static str, description: impl Into<String>) -> DomainError {
    DomainError::InvalidField {
        field,
        description: description.into(),
    }
}

/// `out_order_no`: 6..32 of `[A-Za-z0-9_|*-]`.
pub fn out_order_no(value: &str) -> Check {
    let ok_len = (6..=32).contains(&value.len());
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'|' | b'*' | b'-'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(invalid(
            "out_order_no",
            "must be 6..32 characters of [A-Za-z0-9_|*-]",
        ))
    }
}

/// Identifiers we put in keys (openid, service_id): 1..`max` of `[A-Za-z0-9_-]`.
pub fn identifier(field: &'static str, value: &str, max: usize) -> Check {
    let ok_len = (1..=max).contains(&value.len());
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be 1..{max} characters of [A-Za-z0-9_-]"),
        ))
    }
}

/// Required text of at most `max` characters (Unicode scalar values, as WeChat counts).
pub fn required_text(field: &'static str, value: &str, max: usize) -> Check {
    if value.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    optional_text(field, value, max)
}

/// Optional text of at most `max` characters.
pub fn optional_text(field: &'static str, value: &str, max: usize) -> Check {
    if value.chars().count() > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    Ok(())
}

/// Opaque merchant data: at most `max` bytes.
pub fn max_bytes(field: &'static str, value: &str, max: usize) -> Check {
    if value.len() > max {
        return Err(invalid(field, format!("at most {max} bytes")));
    }
    Ok(())
}

/// An amount in fen that must be > 0.
pub fn positive(field: &'static str, amount: Fen) -> Check {
    if amount <= 0 {
        return Err(invalid(field, "must be > 0 fen"));
    }
    Ok(())
}

/// An amount in fen that must be >= 0.
pub fn non_negative(field: &'static str, amount: Fen) -> Check {
    if amount < 0 {
        return Err(invalid(field, "must be >= 0 fen"));
    }
    Ok(())
}

/// A count of lines or items in `range`.
pub fn count_in(field: &'static str, count: usize, min: usize, max: usize) -> Check {
    if !(min..=max).contains(&count) {
        return Err(invalid(field, format!("must have {min}..{max} entries")));
    }
    Ok(())
}

/// An integer in an inclusive range.
pub fn int_in(field: &'static str, value: i64, min: i64, max: i64) -> Check {
    if !(min..=max).contains(&value) {
        return Err(invalid(field, format!("must be {min}..{max}")));
    }
    Ok(())
}

/// A value that must be set (an enum left at its zero value, a missing message).
pub fn present(field: &'static str, is_set: bool) -> Check {
    if !is_set {
        return Err(invalid(field, "is required"));
    }
    Ok(())
}

/// Every field of an Authorize request.
pub fn authorize(out_order_no_value: &str, terms: &Terms) -> Check {
    out_order_no(out_order_no_value)?;
    identifier("service_id", &terms.service_id, 32)?;
    identifier("openid", &terms.openid, 64)?;
    positive("risk_fund.amount", terms.risk_fund.amount)?;
    optional_text("risk_fund.description", &terms.risk_fund.description, 30)?;
    required_text("service_introduction", &terms.service_introduction, 20)?;
    if let Some(range) = &terms.time_range {
        required_text("time_range.start_time", &range.start_time, 14)?;
        optional_text("time_range.end_time", &range.end_time, 14)?;
        optional_text("time_range.start_time_remark", &range.start_time_remark, 20)?;
        optional_text("time_range.end_time_remark", &range.end_time_remark, 20)?;
    }
    if let Some(location) = &terms.location {
        optional_text("location.start_location", &location.start_location, 50)?;
        optional_text("location.end_location", &location.end_location, 50)?;
    }
    max_bytes("attach", &terms.attach, 256)
}

/// Every field of a bill (Complete).
pub fn bill(bill: &Bill) -> Check {
    count_in("post_payments", bill.post_payments.len(), 1, 100)?;
    count_in("post_discounts", bill.post_discounts.len(), 0, 30)?;
    for line in &bill.post_payments {
        bill_line(
            line,
            "post_payments.name",
            "post_payments.description",
            "post_payments.count",
        )?;
        non_negative("post_payments.amount", line.amount)?;
    }
    for line in &bill.post_discounts {
        bill_line(
            line,
            "post_discounts.name",
            "post_discounts.description",
            "post_discounts.count",
        )?;
        positive("post_discounts.amount", line.amount)?;
    }
    non_negative("total_amount", bill.total_amount)
}

fn bill_line(
    line: &BillLine,
    name: &'static str,
    description: &'static str,
    count: &'static str,
) -> Check {
    required_text(name, &line.name, 20)?;
    optional_text(description, &line.description, 30)?;
    int_in(count, line.count.into(), 1, 100)
}

/// A merchant's or operator's reason (Cancel, ModifyAmount, SetStage…).
pub fn reason(field: &'static str, value: &str, max: usize) -> Check {
    required_text(field, value, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_order_no_limits() {
        assert!(out_order_no("abc123").is_ok());
        assert!(out_order_no("A_b|c*d-0123456789012345678901234").is_err()); // 33 chars
        assert!(out_order_no("A_b|c*d-012345678901234567890123").is_ok()); // 32 chars
        assert!(out_order_no("abc12").is_err());
        assert!(out_order_no("abc 123").is_err());
        assert!(out_order_no("订单号123456").is_err());
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        // 20 Chinese characters = 60 bytes: allowed where 20 characters are.
        let twenty = "充".repeat(20);
        assert!(required_text("service_introduction", &twenty, 20).is_ok());
        assert!(required_text("service_introduction", &(twenty + "x"), 20).is_err());
        assert!(required_text("service_introduction", "  ", 20).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let err = positive("risk_fund.amount", 0).unwrap_err();
        assert!(matches!(
            err,
            DomainError::InvalidField {
                field: "risk_fund.amount",
                ..
            }
        ));
    }
}
