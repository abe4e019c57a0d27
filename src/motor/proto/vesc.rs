//! vesc protocol (phase 1: not yet implemented).
