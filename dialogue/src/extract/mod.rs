//! Value extractors (placeholder, filled in by the extractor work).
