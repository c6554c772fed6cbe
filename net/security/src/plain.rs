//! SASL PLAIN (RFC 4616): the client sends `authzid NUL authcid NUL password` once.
