#pragma once
// Streaming message digests by name ("sha256", "sha1", ... as bmap files
// name them), from OpenSSL's libcrypto. Crypto is never hand-written here.
#include <cstddef>
#include <cstdint>
#include <string>

namespace source {

class Digest {
 public:
  // Throws SourceError for an algorithm OpenSSL does not know.
  explicit Digest(const std::string& algorithm);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void reset();
  void update(const void* p, size_t n);
  std::string hex();  // finishes; call reset() before reuse
  size_t hex_length() const;

 private:
  void* md_;   // const EVP_MD*
  void* ctx_;  // EVP_MD_CTX*
};

}  // namespace source
