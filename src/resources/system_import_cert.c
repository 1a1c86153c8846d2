/*
 * system_import_cert.c - an OVF package's signature (DSP0243: NAME.cert):
 * the line `SHA256(NAME.mf)= <hex RSA signature of the .mf>` followed by
 * the signer's PEM certificate(s).  The signature must verify with the
 * first certificate's key (GnuTLS); the chain must be trusted by the
 * system's trust store and current, unless the import's properties say
 * ovf.allowUntrustedSigner=true.  A .cert without a .mf fails.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "resources/system_import.h"

#define MAX_CERTS 16

/* "SHA256(NAME.mf)= hex" -> the digest's signature algorithm and the bytes. */
static int signature_line(const char *text, const char *mf_name, gnutls_sign_algorithm_t *algo,
                          unsigned char **sig, size_t *sig_len, struct cimi_error *err)
{
    static const struct {
        const char *name;
        gnutls_sign_algorithm_t algo;
    } algos[] = {
        {"SHA1", GNUTLS_SIGN_RSA_SHA1},
        {"SHA256", GNUTLS_SIGN_RSA_SHA256},
        {"SHA512", GNUTLS_SIGN_RSA_SHA512},
    };
    char prefix[OVF_NAME_MAX + 16];
    size_t i;

    for (i = 0; i < sizeof(algos) / sizeof(algos[0]); i++) {
        snprintf(prefix, sizeof(prefix), "%s(%s)=", algos[i].name, mf_name);
        if (strncmp(text, prefix, strlen(prefix)) == 0)
            break;
    }
    if (i == sizeof(algos) / sizeof(algos[0]))
        return err_set(err, 400, "source", "the certificate's first line is not "
                       "'SHA256(%s)= <signature>'", mf_name);
    *algo = algos[i].algo;
    const char *p = text + strlen(prefix);
    while (*p == ' ')
        p++;
    size_t hex = strspn(p, "0123456789abcdefABCDEF");
    if (hex == 0 || hex % 2 || (p[hex] != '\n' && p[hex] != '\r'))
        return err_set(err, 400, "source", "the certificate's signature is not hexadecimal");
    *sig = malloc(hex / 2);
    if (!*sig)
        return err_set(err, 500, NULL, "out of memory");
    for (i = 0; i < hex / 2; i++) {
        unsigned v;
        sscanf(p + 2 * i, "%2x", &v);
        (*sig)[i] = (unsigned char)v;
    }
    *sig_len = hex / 2;
    return 0;
}

static void subject_of(gnutls_x509_crt_t crt, char *out, size_t len)
{
    size_t n = len;
    if (gnutls_x509_crt_get_dn(crt, out, &n) != 0)
        snprintf(out, len, "?");
}

/* The chain's trust: 0, or -1 with the reason (untrusted, expired ...). */
static int chain_trusted(gnutls_x509_crt_t *certs, unsigned n, struct cimi_error *err)
{
    gnutls_x509_trust_list_t list;
    unsigned status = 0;
    int rc = 0;

    if (gnutls_x509_trust_list_init(&list, 0) != 0)
        return err_set(err, 500, NULL, "cannot build a trust list");
    if (gnutls_x509_trust_list_add_system_trust(list, 0, 0) < 0 ||
        gnutls_x509_trust_list_verify_crt(list, certs, n, 0, &status, NULL) != 0)
        rc = err_set(err, 400, "source", "the package's signer cannot be verified");
    else if (status != 0) {
        gnutls_datum_t why = {NULL, 0};
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
        rc = err_set(err, 400, "source", "the package's signer is not trusted (%s); import "
                     "with the property ovf.allowUntrustedSigner=true to accept it",
                     why.data ? (const char *)why.data : "untrusted");
        gnutls_free(why.data);
    }
    gnutls_x509_trust_list_deinit(list, 1); /* with the system CAs it loaded */
    return rc;
}

int import_check_certificate(const char *cert_text, size_t cert_len, const char *mf_name,
                             const char *mf_text, size_t mf_len, bool allow_untrusted,
                             char *signer, size_t signer_len, struct cimi_error *err)
{
    gnutls_sign_algorithm_t algo = GNUTLS_SIGN_UNKNOWN;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    gnutls_x509_crt_t certs[MAX_CERTS];
    unsigned n = MAX_CERTS;
    gnutls_pubkey_t key = NULL;
    int rc;

    if (signature_line(cert_text, mf_name, &algo, &sig, &sig_len, err) != 0)
        return -1;
    gnutls_datum_t pem = {(unsigned char *)cert_text, (unsigned)cert_len};
    if (gnutls_x509_crt_list_import(certs, &n, &pem, GNUTLS_X509_FMT_PEM, 0) <= 0) {
        free(sig);
        return err_set(err, 400, "source", "the package's certificate is not a PEM certificate");
    }
    subject_of(certs[0], signer, signer_len);
    gnutls_datum_t data = {(unsigned char *)mf_text, (unsigned)mf_len};
    gnutls_datum_t signature = {sig, (unsigned)sig_len};
    rc = gnutls_pubkey_init(&key) == 0 && gnutls_pubkey_import_x509(key, certs[0], 0) == 0 &&
                 gnutls_pubkey_verify_data2(key, algo,
                                            algo == GNUTLS_SIGN_RSA_SHA1
                                                ? GNUTLS_VERIFY_ALLOW_SIGN_WITH_SHA1
                                                : 0,
                                            &data, &signature) >= 0
             ? 0
             : err_set(err, 400, "source", "the manifest's signature does not verify with the "
                       "package's certificate (%s)", signer);
    if (rc == 0 && !allow_untrusted)
        rc = chain_trusted(certs, n, err);
    if (key)
        gnutls_pubkey_deinit(key);
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(certs[i]);
    free(sig);
    return rc;
}
