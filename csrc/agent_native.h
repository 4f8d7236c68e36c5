/*
 * Public C API of the msp-agent native core.
 *
 * This header is parsed by cffi (see src/agent/_native_build.py) and must therefore contain
 * only plain declarations: no preprocessor conditionals, no macros, no inline functions.
 * Each module of the core (selftest.c, phi_*.c, ...) declares its functions here.
 */

/* selftest.c: returns a fixed value derived from x so the binding can be smoke-tested. */
unsigned int agent_native_selftest(unsigned int x);
/* selftest.c: ABI version of this header; bumped when a declaration changes. */
unsigned int agent_native_abi_version(void);
