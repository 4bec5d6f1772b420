#pragma once
// Counts heap allocations so a test can assert that a hot-path call makes
// none. Include from exactly one file of a test executable: it replaces the
// global operator new.

#include <atomic>
#include <cstdlib>
#include <new>

namespace ferry {

inline std::atomic<long> g_allocations{0};

/// Allocations made since construction.
class AllocationCounter {
 public:
  AllocationCounter() : start_(g_allocations.load()) {}
  long count() const { return g_allocations.load() - start_; }

 private:
  long start_;
};

}  // namespace ferry

void* operator new(std::size_t size) {
  ferry::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// GOTCHA: GCC 12 inlines these into callers of new and then warns that
// free() is called on memory from operator new (-Wmismatched-new-delete),
// which is exactly the pairing this replacement makes: malloc above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
