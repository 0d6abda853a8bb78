// Base64: the RFC 4648 test vectors, whitespace in kubeconfig data, bad input.
#include <doctest/doctest.h>
#include <loki/base64.hpp>

TEST_CASE("base64: RFC 4648 vectors both ways") {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  // Not a structured binding: CAPTURE's lambda may not capture one before clang 16 (the sanitizer build's clang).
  for (const auto& vector : vectors) {
    const char* plain = vector.first;
    const char* enc = vector.second;
    CAPTURE(plain);
    CHECK(loki::base64_encode(plain) == enc);
    CHECK(loki::base64_decode(enc) == std::string(plain));
  }
  CHECK(loki::base64_decode("Zm9v\nYmFy\n") == std::string("foobar"));
  CHECK_FALSE(loki::base64_decode("Zm9v!").has_value());
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  CHECK(loki::base64_decode(loki::base64_encode(bytes)) == bytes);
}
