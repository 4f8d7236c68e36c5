/* Smoke test of the native build: proves the extension compiled, linked and loads. */
#include "agent_native.h"

#define AGENT_NATIVE_ABI 3u

unsigned int agent_native_selftest(unsigned int x)
{
    /* Unsigned arithmetic: wraps by definition, no UB for any input. */
    return x * 2654435761u + 0x9e3779b9u;
}

unsigned int agent_native_abi_version(void)
{
    return AGENT_NATIVE_ABI;
}
