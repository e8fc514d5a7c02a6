//! AMF3 (Adobe "Action Message Format -- AMF 3").
