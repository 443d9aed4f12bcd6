/* Test credentials made at test time with GnuTLS (nothing secret is kept in
 * the tree): EC P-256 keys, a CA, server and client certificates. */
#ifndef GW_TEST_CREDS_H
#define GW_TEST_CREDS_H

/* Writes into dir, keys with mode 0600:
 *   ca.pem                     the CA (its key is not kept)
 *   server.pem server.key      for "lwm2m.test", from the CA, valid now
 *   server.pub                 the public key server.pem carries
 *   expired.pem                the same key, from the CA, expired yesterday
 *   other.pem other.key        self-signed "lwm2m.test": not from the CA
 *   other.pub                  the public key other.pem carries
 *   client.pem client.key      for "dev", from the CA
 *   rpk-server.key .pub        raw public key pairs
 *   rpk-client.key .pub
 *   rpk-other.pub
 * Returns 0 or a negative errno. */
int creds_make(const char *dir);

#endif
