// The table of kernels a compiled library exports, with each kernel's parameter types, and the
// C interface runtime.py loads through ctypes. build.py's generated unit defines tce_table.
#pragma once

namespace tce {

template <typename T> struct TypeName;
#define TCE_TYPE_NAME(T, S) template <> struct TypeName<T> { static constexpr const char* value = S; };
TCE_TYPE_NAME(float, "float")
TCE_TYPE_NAME(double, "double")
TCE_TYPE_NAME(int, "int")
TCE_TYPE_NAME(unsigned, "unsigned int")
TCE_TYPE_NAME(long long, "long long")
TCE_TYPE_NAME(unsigned long long, "unsigned long long")
TCE_TYPE_NAME(float*, "float*")
TCE_TYPE_NAME(const float*, "const float*")
TCE_TYPE_NAME(double*, "double*")
TCE_TYPE_NAME(const double*, "const double*")
TCE_TYPE_NAME(int*, "int*")
TCE_TYPE_NAME(const int*, "const int*")
TCE_TYPE_NAME(unsigned*, "unsigned int*")
TCE_TYPE_NAME(const unsigned*, "const unsigned int*")
TCE_TYPE_NAME(long long*, "long long*")
TCE_TYPE_NAME(const long long*, "const long long*")
TCE_TYPE_NAME(unsigned long long*, "unsigned long long*")
TCE_TYPE_NAME(const unsigned long long*, "const unsigned long long*")
TCE_TYPE_NAME(unsigned char*, "unsigned char*")
TCE_TYPE_NAME(const unsigned char*, "const unsigned char*")
#undef TCE_TYPE_NAME

struct Kernel {
    const char* name;
    std::string signature;  // parameter types, comma-separated
    std::function<void(void**)> call;
};

template <typename... A, size_t... I>
void call_unpacked(void (*f)(A...), void** args, std::index_sequence<I...>)
{
    f(*static_cast<std::remove_cv_t<A>*>(args[I])...);
}

template <typename... A>
Kernel kernel(const char* name, void (*f)(A...))
{
    std::string signature;
    for (const char* part : {TypeName<std::remove_cv_t<A>>::value...}) {
        if (!signature.empty())
            signature += ",";
        signature += part;
    }
    return Kernel{name, signature, [f](void** args) { call_unpacked(f, args, std::index_sequence_for<A...>{}); }};
}

}  // namespace tce

// The library's C interface (the generated table defines tce_table and tce_table_size).
extern tce::Kernel tce_table[];
extern const int tce_table_size;

#define TCE_EXPORT __attribute__((visibility("default")))
extern "C" {
TCE_EXPORT int tce_count() { return tce_table_size; }
TCE_EXPORT const char* tce_name(int i) { return tce_table[i].name; }
TCE_EXPORT const char* tce_signature(int i) { return tce_table[i].signature.c_str(); }
TCE_EXPORT int tce_launch(int i, const unsigned* grid, const unsigned* block, void** args, int order,
                      unsigned long long seed, char* error, int error_size)
{
    std::string message;
    const tce::Kernel& k = tce_table[i];
    const int rc = tce::launch([&] { k.call(args); }, dim3{grid[0], grid[1], grid[2]},
                               dim3{block[0], block[1], block[2]}, order, seed, message);
    snprintf(error, (size_t)error_size, "%s", message.c_str());
    return rc;
}
}
