#include "shim/real_libpq.hpp"

#include <dlfcn.h>

#include <atomic>

namespace pymigrate::shim
{

namespace
{

RealLibpq g_real;
std::atomic<bool> g_loaded{false};

void
load() noexcept
{
    // RTLD_NEXT: the next definition after this library in the lookup order,
    // which is libpq whether the shim was preloaded or linked before -lpq.
#define PYMIGRATE_LOAD(name) g_real.name = reinterpret_cast<decltype(&::name)>(dlsym(RTLD_NEXT, #name));
    PYMIGRATE_LIBPQ_FUNCTIONS(PYMIGRATE_LOAD)
#undef PYMIGRATE_LOAD
    g_loaded.store(true, std::memory_order_release);
}

} // namespace

const RealLibpq &
real() noexcept
{
    // Races are harmless: every thread stores the same pointers.
    if (!g_loaded.load(std::memory_order_acquire))
        load();
    return g_real;
}

} // namespace pymigrate::shim
