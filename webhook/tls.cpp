#include "tls.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

namespace loki::webhook {

namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string describe(const boost::system::error_code& ec) {
  std::string msg = ec.message();
  std::string extra = openssl_errors();
  if (!extra.empty() && msg.find(extra) == std::string::npos) msg += " (" + extra + ")";
  return msg;
}

std::string subject_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n > 0 ? static_cast<std::size_t>(n) : 0);
  BIO_free(bio);
  return out;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// ALPN: the webhook speaks HTTP/1.1 only. A client that offers it gets it; a client that offers only
// other protocols gets no ALPN answer (not a fatal alert) and may still talk HTTP/1.1.
int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  // Walk the client's list ourselves: SSL_select_next_proto's no-overlap behaviour differs across versions.
  unsigned int i = 0;
  while (i < inlen) {
    unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == 8 && std::memcmp(in + i + 1, kHttp11 + 1, 8) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(std::string("cannot read TLS ") + what + " '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw std::runtime_error(std::string("cannot read TLS ") + what + " '" + path + "'");
  return ss.str();
}

std::string sha256(const std::string& a, const std::string& b) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  const char sep = '\0';
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  EVP_DigestUpdate(md, a.data(), a.size());
  EVP_DigestUpdate(md, &sep, 1);
  EVP_DigestUpdate(md, b.data(), b.size());
  EVP_DigestFinal_ex(md, out, &n);
  EVP_MD_CTX_free(md);
  return std::string(reinterpret_cast<const char*>(out), n);
}

}  // namespace

std::shared_ptr<ssl::context> make_server_context(const std::string& cert_pem, const std::string& key_pem,
                                                  CertificateInfo* info) {
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(h, TLS1_3_VERSION);
  SSL_CTX_set_options(
      h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE);
  if (SSL_CTX_set_cipher_list(h, kTls12Ciphers) != 1 || SSL_CTX_set_ciphersuites(h, kTls13Ciphersuites) != 1)
    throw std::runtime_error("cannot configure TLS ciphers: " + openssl_errors());
  if (SSL_CTX_set1_groups_list(h, "X25519:P-256:P-384") != 1)
    throw std::runtime_error("cannot configure TLS groups: " + openssl_errors());
  // Cheap resumed handshakes: a server-side session cache for TLS 1.2 and one ticket per TLS 1.3 handshake.
  static const unsigned char kSidCtx[] = "loki-webhook";
  SSL_CTX_set_session_id_context(h, kSidCtx, sizeof kSidCtx - 1);
  SSL_CTX_set_session_cache_mode(h, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(h, 4096);
  SSL_CTX_set_num_tickets(h, 1);
  SSL_CTX_set_alpn_select_cb(h, alpn_select, nullptr);

  // Parse and pair-check first: clearer messages than the context setters give (a mismatched key makes
  // SSL_CTX_use_PrivateKey drop the certificate and report "no certificate assigned").
  {
    BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    X509* leaf = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    if (!leaf) throw std::runtime_error("invalid certificate: no PEM certificate found (" + openssl_errors() + ")");
    BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    if (!pkey) {
      X509_free(leaf);
      throw std::runtime_error("invalid private key: no PEM private key found (" + openssl_errors() + ")");
    }
    const bool match = X509_check_private_key(leaf, pkey) == 1;
    X509_free(leaf);
    EVP_PKEY_free(pkey);
    if (!match) {
      ERR_clear_error();
      throw std::runtime_error("private key does not match the certificate");
    }
  }
  boost::system::error_code ec;
  ctx->use_certificate_chain(boost::asio::buffer(cert_pem), ec);
  if (ec) throw std::runtime_error("invalid certificate: " + describe(ec));
  ctx->use_private_key(boost::asio::buffer(key_pem), ssl::context::pem, ec);
  if (ec) throw std::runtime_error("invalid private key: " + describe(ec));
  if (SSL_CTX_check_private_key(h) != 1)
    throw std::runtime_error("private key does not match the certificate (" + openssl_errors() + ")");

  X509* cert = SSL_CTX_get0_certificate(h);
  if (!cert) throw std::runtime_error("invalid certificate: no certificate found");
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
    throw std::runtime_error("certificate has expired (subject " + subject_of(cert) + ")");
  if (info) {
    info->subject = subject_of(cert);
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
    if (bn) {
      char* hex = BN_bn2hex(bn);
      info->serial_hex = hex ? hex : "";
      OPENSSL_free(hex);
      BN_free(bn);
    }
    info->not_before = to_time_point(X509_get0_notBefore(cert));
    info->not_after = to_time_point(X509_get0_notAfter(cert));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
    spdlog::warn("TLS certificate is not valid yet (notBefore is in the future); serving it anyway");
  ERR_clear_error();
  return ctx;
}

TlsContextProvider::TlsContextProvider(std::string cert_path, std::string key_path)
    : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)) {
  std::lock_guard lk(mu_);
  cert_id_ = stat_file(cert_path_);
  key_id_ = stat_file(key_path_);
  std::string cert = read_file(cert_path_, "certificate");
  std::string key = read_file(key_path_, "private key");
  try {
    ctx_ = make_server_context(cert, key, &info_);
  } catch (const std::exception& e) {
    throw std::runtime_error("TLS certificate '" + cert_path_ + "' / key '" + key_path_ + "': " + e.what());
  }
  loaded_digest_ = sha256(cert, key);
}

TlsContextProvider::FileId TlsContextProvider::stat_file(const std::string& path) {
  struct stat st {};
  FileId id;
  if (::stat(path.c_str(), &st) != 0) return id;  // stat() follows symlinks: a swapped ..data link changes inode
  id.ok = true;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<std::uint64_t>(st.st_size);
  id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

std::shared_ptr<ssl::context> TlsContextProvider::current() const {
  std::lock_guard lk(mu_);
  return ctx_;
}

CertificateInfo TlsContextProvider::info() const {
  std::lock_guard lk(mu_);
  return info_;
}

std::uint64_t TlsContextProvider::reloads() const {
  std::lock_guard lk(mu_);
  return reloads_;
}

std::uint64_t TlsContextProvider::reload_failures() const {
  std::lock_guard lk(mu_);
  return failures_;
}

bool TlsContextProvider::reload() {
  std::lock_guard lk(mu_);
  cert_id_ = stat_file(cert_path_);
  key_id_ = stat_file(key_path_);
  return load_locked(false);
}

bool TlsContextProvider::poll() {
  std::lock_guard lk(mu_);
  FileId c = stat_file(cert_path_), k = stat_file(key_path_);
  if (c == cert_id_ && k == key_id_) return false;
  cert_id_ = c;
  key_id_ = k;
  if (!c.ok || !k.ok) {
    // Mid-swap, or removed: keep serving and look again at the next poll.
    spdlog::warn("TLS certificate or key file missing ({} / {}); keeping the current certificate", cert_path_,
                 key_path_);
    cert_id_ = key_id_ = FileId{};
    return false;
  }
  return load_locked(true);
}

bool TlsContextProvider::load_locked(bool from_poll) {
  std::string cert, key;
  try {
    cert = read_file(cert_path_, "certificate");
    key = read_file(key_path_, "private key");
  } catch (const std::exception& e) {
    ++failures_;
    spdlog::error("TLS certificate reload failed: {}; keeping the current certificate (serial {})", e.what(),
                  info_.serial_hex);
    if (from_poll) cert_id_ = key_id_ = FileId{};  // retry at the next poll
    return false;
  }
  std::string digest = sha256(cert, key);
  if (from_poll && (digest == loaded_digest_ || digest == failed_digest_)) return false;  // touched, not changed
  CertificateInfo info;
  try {
    auto ctx = make_server_context(cert, key, &info);
    ctx_ = std::move(ctx);
    info_ = std::move(info);
    loaded_digest_ = std::move(digest);
    failed_digest_.clear();
    ++reloads_;
    spdlog::info("TLS certificate reloaded from {}: subject {}, serial {}", cert_path_, info_.subject,
                 info_.serial_hex);
    return true;
  } catch (const std::exception& e) {
    ++failures_;
    failed_digest_ = std::move(digest);
    spdlog::error("TLS certificate reload from {} / {} refused: {}; keeping the current certificate (serial {})",
                  cert_path_, key_path_, e.what(), info_.serial_hex);
    return false;
  }
}

}  // namespace loki::webhook
