package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// BackendTLS is how a data source's connections use TLS.
type BackendTLS struct {
	// Mode: disabled (default), preferred (TLS when the server offers it,
	// unverified), required (TLS or no connection, unverified), verify-ca
	// (the server's certificate chains to CA), verify-full (and names the
	// host, or ServerName).
	Mode string `yaml:"mode"`
	// CA is a PEM file of the certificates that sign the server's (verify
	// modes; none: the system's roots).
	CA string `yaml:"ca,omitempty"`
	// Cert and Key: a client certificate, for servers that ask for one.
	Cert string `yaml:"cert,omitempty"`
	Key  string `yaml:"key,omitempty"`
	// ServerName is the name verify-full checks (default: the URL's host).
	ServerName string `yaml:"serverName,omitempty"`
}

// TLS modes of a data source.
const (
	TLSDisabled   = "disabled"
	TLSPreferred  = "preferred"
	TLSRequired   = "required"
	TLSVerifyCA   = "verify-ca"
	TLSVerifyFull = "verify-full"
)

// TLSMode is the data source's TLS mode (disabled when unset).
func (d *DataSource) TLSMode() string {
	if d.TLS == nil || d.TLS.Mode == "" {
		return TLSDisabled
	}
	return d.TLS.Mode
}

func (t *BackendTLS) check(bad func(path, format string, a ...any), p string) {
	switch t.Mode {
	case "", TLSDisabled, TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyFull:
	default:
		bad(p+".mode", "want disabled, preferred, required, verify-ca or verify-full, got %q", t.Mode)
	}
	if (t.Cert == "") != (t.Key == "") {
		bad(p+".cert", "cert and key must be set together")
	}
}

// ClientTLS is the tls.Config for the data source's connections to addr
// (host:port), read from its files; nil when TLS is disabled.
func (d *DataSource) ClientTLS(addr string) (*tls.Config, error) {
	mode := d.TLSMode()
	if mode == TLSDisabled {
		return nil, nil
	}
	t := d.TLS
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.Cert != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert/key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	var roots *x509.CertPool
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls.ca: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca: %s holds no PEM certificate", t.CA)
		}
	}
	switch mode {
	case TLSPreferred, TLSRequired:
		cfg.InsecureSkipVerify = true // encrypted, not authenticated (as MySQL's REQUIRED)
	case TLSVerifyCA:
		// The chain is checked, the name is not.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("tls verify-ca: the server sent no certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					return fmt.Errorf("tls verify-ca: %w", err)
				}
				certs[i] = c
			}
			inter := x509.NewCertPool()
			for _, c := range certs[1:] {
				inter.AddCert(c)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			if err != nil {
				return fmt.Errorf("tls verify-ca: %w", err)
			}
			return nil
		}
	case TLSVerifyFull:
		cfg.RootCAs = roots
		cfg.ServerName = t.ServerName
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg.ServerName = host
		}
	}
	return cfg, nil
}
