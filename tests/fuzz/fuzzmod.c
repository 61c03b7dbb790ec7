/* The extension module that tests/fuzz/moddef.c imports through the real
   import path (_imp.create_dynamic and _imp.exec_dynamic).  Its init function
   returns whatever the harness built for the current input (usually the
   fuzzed module definition): fuzz_init() is defined by the harness
   executable, which is linked with -rdynamic so that this library finds it.
   No Python header is needed: the result is an opaque pointer. */

extern void *fuzz_init(void);

void *
PyInit_fuzzmod(void)
{
    return fuzz_init();
}
