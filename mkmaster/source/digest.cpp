#include "mkmaster/source/digest.h"

#include <openssl/evp.h>

#include "mkmaster/source/image_reader.h"

namespace source {

Digest::Digest(const std::string& algorithm) {
  md_ = const_cast<EVP_MD*>(EVP_get_digestbyname(algorithm.c_str()));
  if (!md_) throw SourceError("unknown checksum type '" + algorithm + "'");
  ctx_ = EVP_MD_CTX_new();
  reset();
}

Digest::~Digest() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Digest::reset() { EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), static_cast<const EVP_MD*>(md_), nullptr); }

void Digest::update(const void* p, size_t n) { EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), p, n); }

std::string Digest::hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out, &len);
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += digits[out[i] >> 4];
    s += digits[out[i] & 15];
  }
  return s;
}

size_t Digest::hex_length() const { return 2 * static_cast<size_t>(EVP_MD_get_size(static_cast<const EVP_MD*>(md_))); }

}  // namespace source
