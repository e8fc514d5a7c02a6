//! AMF0 (Adobe "Action Message Format -- AMF 0").
