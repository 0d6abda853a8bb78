// netpol::PolicyList: an inventory's policies, owned (parsed from files) or
// referred to (the webhook's cache snapshot), in one order.
#include <doctest/doctest.h>

#include <loki/netpol.hpp>

#include <memory>
#include <string>
#include <vector>

using loki::netpol::Policy;
using loki::netpol::PolicyList;

namespace {

Policy named(const std::string& name, int line) {
  Policy p;
  p.ref.name = name;
  p.file = "f.yaml";
  p.line = line;
  return p;
}

std::vector<std::string> names(const PolicyList& l) {
  std::vector<std::string> out;
  for (const Policy& p : l) out.push_back(p.ref.name);
  return out;
}

}  // namespace

TEST_CASE("PolicyList: owned and referred records in order; addresses stay put as the list grows") {
  auto shared = std::make_shared<std::vector<Policy>>(std::vector<Policy>{named("s1", 5), named("s2", 6)});
  PolicyList l;
  l.push_back(named("o1", 1));
  const Policy* first = &l[0];
  for (const Policy& p : *shared) l.push_back_ref(p);
  l.keep_alive(shared);
  for (int i = 0; i < 100; ++i) l.push_back(named("o" + std::to_string(i + 2), i + 10));
  CHECK(&l[0] == first);          // owned records do not move
  CHECK(&l[1] == &(*shared)[0]);  // referred records are the owner's
  CHECK(l.size() == 103);
  CHECK(l.end() - l.begin() == 103);
  CHECK(l.begin()[2].ref.name == "s2");

  // The owner's last other handle goes; the list keeps the records alive.
  const Policy* s1 = &(*shared)[0];
  shared.reset();
  CHECK(l[1].ref.name == "s1");
  CHECK(&l[1] == s1);
}

TEST_CASE("PolicyList: append moves the other's records without copying; erase_if and stable_sort see records") {
  PolicyList a, b;
  a.push_back(named("a", 3));
  b.push_back(named("b", 1));
  b.push_back(named("c", 3));
  const Policy* b0 = &b[0];
  a.append(std::move(b));
  CHECK(b.empty());
  CHECK(&a[1] == b0);
  CHECK(names(a) == std::vector<std::string>{"a", "b", "c"});
  a.stable_sort([](const Policy& x, const Policy& y) { return x.line < y.line; });
  CHECK(names(a) == std::vector<std::string>{"b", "a", "c"});  // equal lines keep their order
  CHECK(a.erase_if([](const Policy& p) { return p.ref.name == "a"; }) == 1);
  CHECK(names(a) == std::vector<std::string>{"b", "c"});

  // Appending into an empty list takes the other whole; pushing into a
  // moved-from list does not write into the records it gave away.
  PolicyList empty;
  empty.append(std::move(a));
  CHECK(names(empty) == std::vector<std::string>{"b", "c"});
  a.push_back(named("fresh", 9));
  CHECK(names(a) == std::vector<std::string>{"fresh"});
  CHECK(names(empty) == std::vector<std::string>{"b", "c"});

  // A copy owns copies.
  PolicyList copy = empty;
  CHECK(names(copy) == names(empty));
  CHECK(&copy[0] != &empty[0]);
}
