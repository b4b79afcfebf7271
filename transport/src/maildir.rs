//! Maildir delivery (to come).
