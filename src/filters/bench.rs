//! Filter benchmark (placeholder, filled in below).
