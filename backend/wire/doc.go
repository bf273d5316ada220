// Package wire is the MySQL client/server protocol at the packet level: the
// framing, the few packets shardgate builds or reads itself (handshake, OK,
// ERR, EOF) and Relay, which copies a response from a backend to a client
// packet by packet without decoding rows.
//
// Both ends of the proxy speak the protocol without CLIENT_DEPRECATE_EOF,
// CLIENT_SESSION_TRACK, CLIENT_QUERY_ATTRIBUTES and compression, so that a
// backend response is valid for the client byte for byte; only sequence
// numbers and statement ids are rewritten.
package wire
