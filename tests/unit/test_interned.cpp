// InternedText: one stored copy per distinct text, compared and ordered as the text.
#include <doctest/doctest.h>
#include <loki/interned.hpp>

#include <sstream>
#include <string>

TEST_CASE("interned texts share one copy and compare as strings") {
  const std::string path = "/spec/template/metadata/labels";
  std::string built = path.substr(0, path.rfind('/'));  // an equal text from another buffer
  built += "/labels";
  loki::InternedText a(path), b(built), c("/metadata/labels");
  CHECK(&a.str() == &b.str());  // one copy, however many records hold it
  CHECK(&a.str() != &c.str());
  CHECK(a == b);
  CHECK(a == path);
  CHECK(a == "/spec/template/metadata/labels");
  CHECK(a != c);
  CHECK(c < a);  // "/m..." < "/s..."
  CHECK(loki::InternedText() == "");
  CHECK(loki::InternedText().empty());
  std::string copy = a;
  CHECK(copy == path);
  std::ostringstream out;
  out << c << ":" << 3;
  CHECK(out.str() == "/metadata/labels:3");
}
