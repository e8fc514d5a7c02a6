//! Decoder configuration parsers: the codecs strings that MSE and probes need.
