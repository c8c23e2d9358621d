// test_interpose: what a program under LD_PRELOAD=libobmt-override.so may
// call besides malloc & co.:
//  - C++ new and delete, plain, array, nothrow, sized, and aligned (both
//    below and above obmt's 128-byte pool alignment);
//  - glibc's __libc_* names, called directly;
//  - allocations made by a library constructor that runs before obmt's,
//    and by ld.so for dlopen'ed thread-local storage.
// Small requests must come from obmt's pools (obmt_owns, found with dlsym),
// every block must be aligned as asked and usable.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <new>
#include <pthread.h>

extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);
extern int early_ok;
extern void *early_block;
}

static int failures;
#define CHECK(c) do { if (!(c)) { std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); failures++; } } while (0)

static int (*owns)(const void *);

static bool aligned(const void *p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

struct alignas(64) Line { char b[64]; };
struct alignas(4096) Page { char b[4096]; };
struct Obj { int v[5]; };

static void test_new_delete()
{
    Obj *o = new Obj();
    CHECK(owns(o) && o->v[4] == 0);
    delete o; // sized delete when the compiler emits it (-fsized-deallocation)
    int *a = new int[1000];
    CHECK(owns(a));
    a[999] = 1;
    delete[] a;
    Line *l = new Line;
    CHECK(owns(l) && aligned(l, 64));
    delete l;
    Line *la = new Line[7];
    CHECK(aligned(la, 64));
    delete[] la;
    Page *pg = new Page; // above 128: the underlying allocator, page-aligned
    CHECK(aligned(pg, 4096));
    std::memset(pg, 1, sizeof *pg);
    delete pg;
    void *n = ::operator new(100, std::nothrow);
    CHECK(n && owns(n));
    ::operator delete(n, std::nothrow);
    void *s = ::operator new(48);
    ::operator delete(s, 48); // sized
    void *al = ::operator new(200, std::align_val_t(32));
    CHECK(owns(al) && aligned(al, 32));
    ::operator delete(al, 200, std::align_val_t(32));
    bool threw = false;
    try {
        void *huge = ::operator new(SIZE_MAX / 2);
        ::operator delete(huge);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    CHECK(::operator new(SIZE_MAX / 2, std::nothrow) == nullptr);
}

static void test_libc_names()
{
    char *p = static_cast<char *>(__libc_malloc(100));
    CHECK(p && owns(p));
    p = static_cast<char *>(__libc_realloc(p, 300));
    CHECK(p && owns(p));
    __libc_free(p);
    int *z = static_cast<int *>(__libc_calloc(100, sizeof(int)));
    CHECK(z && owns(z) && z[99] == 0);
    __libc_free(z);
    void *m = __libc_memalign(64, 100);
    CHECK(m && owns(m) && aligned(m, 64));
    std::free(m); // the same allocator under both names
    void *big = __libc_malloc(1 << 20); // a medium block: obmt's too
    CHECK(big && owns(big));
    __libc_free(big);
}

static void *in_thread(void *)
{
    test_new_delete();
    return nullptr;
}

int main()
{
    owns = reinterpret_cast<int (*)(const void *)>(dlsym(RTLD_DEFAULT, "obmt_owns"));
    if (!owns) {
        std::fprintf(stderr, "obmt_owns not found: run under LD_PRELOAD=libobmt-override.so\n");
        return 1;
    }
    CHECK(early_ok);
    CHECK(early_block && owns(early_block));
    std::free(early_block);
    test_new_delete();
    pthread_t t;
    CHECK(pthread_create(&t, nullptr, in_thread, nullptr) == 0);
    pthread_join(t, nullptr);
    test_libc_names();
    // ld.so allocates the dlopen'ed library's thread-local block with malloc.
    void *h = dlopen(EARLY_LIB_PATH, RTLD_NOW);
    CHECK(h != nullptr);
    if (failures) {
        std::fprintf(stderr, "interpose: %d failures\n", failures);
        return 1;
    }
    std::printf("interpose: all checks passed\n");
    return 0;
}
