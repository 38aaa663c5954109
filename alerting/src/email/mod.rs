//! E-mail over SMTP (lettre): one mail per urgent alert, a digest of the rest every N minutes.

mod config;
mod encode;
mod transport;

pub use config::{
    parse_mailbox, EmailConfig, TlsMode, DEFAULT_DIGEST_MINUTES, DEFAULT_SUBJECT_PREFIX,
    MAX_DIGEST_SECONDS,
};
pub use encode::{
    alert_html, alert_mail, alert_subject, alert_text, digest_html, digest_mail, digest_order,
    digest_subject, digest_text, html_escape, one_line, report_mail, Addressing, Attachment,
    EncodeError, ALERT_ID_HEADER, SEVERITY_HEADER,
};
pub use transport::{
    outcome, reply_outcome, EmailBuildError, EmailTransport, SmtpClient, DIGEST_MAX_ITEMS,
    STATUS_MAIL_REFUSED, STATUS_REFUSES_US,
};

/// The MIME reader of the integration tests, for the encoder's unit tests.
#[cfg(test)]
#[path = "../../tests/support/mime.rs"]
mod test_mime;
