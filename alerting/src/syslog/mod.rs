//! Syslog (RFC 5424) carrying CEF, with RFC 6587 framing for TCP and TLS.

mod cef;
mod config;
mod rfc5424;

pub use cef::{alert_cef, cef_severity, escape_extension, escape_header, event_cef};
pub use config::{Facility, Framing, SyslogConfig};
pub use rfc5424::{alert_line, event_line, frame, syslog_severity, Header, APP_NAME};
