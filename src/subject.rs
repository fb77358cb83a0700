//! Validation of subjects, reply subjects and queue names.
//!
//! nats.c only checks publish subjects for emptiness, so a subject such as
//! `"foo bar"` turns into `PUB foo bar 1` on the wire (natsc-defects.md #1).
//! We reject whitespace and control bytes on every path.

use crate::error::{ErrorKind, Result, err};

fn has_forbidden_byte(s: &str) -> bool {
    s.bytes().any(|b| b <= b' ' || b == 0x7f)
}

/// Checks a subject used to publish: not empty, no whitespace or control bytes.
pub(crate) fn check_publish_subject(subject: &str) -> Result<()> {
    if subject.is_empty() {
        return err(ErrorKind::InvalidSubject, "subject must not be empty");
    }
    if has_forbidden_byte(subject) {
        return err(
            ErrorKind::InvalidSubject,
            format!("subject {subject:?} contains whitespace or control characters"),
        );
    }
    Ok(())
}

/// Checks a reply subject: not empty, no whitespace or control bytes (`InvalidArg`, as nats.c).
pub(crate) fn check_reply(reply: &str) -> Result<()> {
    if reply.is_empty() {
        return err(ErrorKind::InvalidArg, "reply subject must not be empty");
    }
    if has_forbidden_byte(reply) {
        return err(
            ErrorKind::InvalidArg,
            format!("reply subject {reply:?} contains whitespace or control characters"),
        );
    }
    Ok(())
}

/// Checks a subscription subject: tokens separated by `.`, none empty; a `>`
/// token only last; no whitespace or control bytes. As in nats.c, `*` or `>`
/// inside a longer token (`f*o`) is a literal character, not a wildcard.
pub(crate) fn check_subscribe_subject(subject: &str) -> Result<()> {
    if subject.is_empty() {
        return err(ErrorKind::InvalidSubject, "subject must not be empty");
    }
    if has_forbidden_byte(subject) {
        return err(
            ErrorKind::InvalidSubject,
            format!("subject {subject:?} contains whitespace or control characters"),
        );
    }
    let mut tokens = subject.split('.').peekable();
    while let Some(tok) = tokens.next() {
        let last = tokens.peek().is_none();
        let bad = tok.is_empty() || (tok == ">" && !last);
        if bad {
            return err(
                ErrorKind::InvalidSubject,
                format!("invalid subject {subject:?}"),
            );
        }
    }
    Ok(())
}

/// Checks a queue group name: not empty (`InvalidArg`), no whitespace (`InvalidQueueName`).
pub(crate) fn check_queue(queue: &str) -> Result<()> {
    if queue.is_empty() {
        return err(ErrorKind::InvalidArg, "queue group name must not be empty");
    }
    if has_forbidden_byte(queue) {
        return err(
            ErrorKind::InvalidQueueName,
            format!("queue group name {queue:?} contains whitespace or control characters"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_subjects() {
        for ok in [
            "foo", "foo.bar", "*", ">", "foo.*", "foo.>", "*.bar.>", "a.b.c",
        ] {
            assert!(check_subscribe_subject(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "foo.",
            ".foo",
            "foo..bar",
            "foo bar",
            "..",
            "foo.>.bar",
            ">.foo",
            "a\tb",
            "a\r\n",
            "a\u{7f}",
        ] {
            assert_eq!(
                check_subscribe_subject(bad).unwrap_err().kind(),
                ErrorKind::InvalidSubject,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn publish_subjects_and_replies() {
        assert!(check_publish_subject("foo.bar").is_ok());
        assert_eq!(
            check_publish_subject("foo bar").unwrap_err().kind(),
            ErrorKind::InvalidSubject
        );
        assert_eq!(
            check_publish_subject("").unwrap_err().kind(),
            ErrorKind::InvalidSubject
        );
        assert!(check_reply("_INBOX.x").is_ok());
        assert_eq!(
            check_reply("a b").unwrap_err().kind(),
            ErrorKind::InvalidArg
        );
        assert_eq!(check_reply("").unwrap_err().kind(), ErrorKind::InvalidArg);
    }

    #[test]
    fn queue_names() {
        assert!(check_queue("workers").is_ok());
        assert_eq!(check_queue("").unwrap_err().kind(), ErrorKind::InvalidArg);
        for bad in ["a b", "a\tb", "a\rb", "a\nb"] {
            assert_eq!(
                check_queue(bad).unwrap_err().kind(),
                ErrorKind::InvalidQueueName
            );
        }
    }
}
