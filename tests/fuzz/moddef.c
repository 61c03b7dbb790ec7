/* libFuzzer target: multi-phase module definitions (PEP 489).

   Each input is decoded into a PyModuleDef -- m_size, m_methods, m_doc,
   m_traverse/m_clear/m_free and up to 8 slots from valid and invalid
   palettes -- and a scenario: the path that drives the definition and the
   interpreter it runs in.  Paths:

     direct     PyModule_FromDefAndSpec2(), then PyModule_ExecDef() on the
                module it returns, with specs of several kinds;
     import     the real import path: importlib's _load() of an
                ExtensionFileLoader spec (_imp.create_dynamic, sys.modules,
                _imp.exec_dynamic) of fuzzmod.so, whose PyInit_fuzzmod()
                returns what fuzz_init() below gives (usually the definition);
     exec-only  PyModule_ExecDef() alone, on a fresh module and the unchecked
                definition (it is public API).

   Interpreters: the main one, a subinterpreter, a subinterpreter refusing
   single-phase modules (the fork's check_multi_interp_extensions), or fresh
   ones of both kinds, ended with the module in them after the run.

   Besides the sanitizers (ASan, UBSan, and LeakSanitizer when the fuzzer
   exits), every run checks:
   - a failure leaves an exception set, a success none;
   - the outcome is the one the definition calls for (predict_*() below): a
     malformed definition is a SystemError naming the module, raised before
     the create function runs; Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED in
     a subinterpreter is an ImportError naming the module and its file, also
     before create; failures of create and exec functions are reported as
     documented;
   - import path: after a failure the name is not in sys.modules, after a
     success sys.modules[name] is the result;
   - every module object the run made is dead once the run drops it (weak
     references), and the total reference count is the same before and after
     a run (see run_input(): a cache may keep a reference once).

   Built with -DFUZZ_REPLAY, main() runs input files (or directories of them)
   instead: `make test` replays tests/fuzz/corpus and tests/fuzz/crashes
   against the debug build, without libFuzzer.

   Input bytes (a missing byte reads as 0):
     0  scenario: path = b % 3, interpreter = b / 3 % 5
     1  module name (direct, exec-only: 6 names, some invalid; import: 2)
     2  spec kind (direct): file spec, name only, has_location without
        origin, has_location that raises, no name
     3  init function (import): the definition, raise, NULL without an
        exception, a single-phase module (strict subinterpreters only)
     4  flags: bits 0-1 m_methods (none, valid, METH_CLASS), 2-3 m_doc (none,
        valid, invalid UTF-8), 4 m_traverse, 5 m_clear, 6 m_free, 7 no slots
     5  m_size: 0, pointer-sized, 1 + next byte, -1 - next byte
     6  number of slots (0-8), then two bytes per slot: ID class and value
        (see decode_slot()). */

#define Py_BUILD_CORE_MODULE 1    /* for _Py_NewInterpreterEx() */
#include "Python.h"
#include "internal/pycore_pylifecycle.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WIDE_(s) L ## s
#define WIDE(s) WIDE_(s)
#define MAX_SLOTS 8

enum { P_DIRECT, P_IMPORT, P_EXEC_ONLY, NPATHS };
enum { I_MAIN, I_SUB, I_STRICT, I_FRESH_SUB, I_FRESH_STRICT, NINTERPS };
enum { INIT_DEF, INIT_DEF2, INIT_RAISE, INIT_NULL, INIT_SINGLE, NINITS };
enum { C_NULL, C_MODULE, C_SUBCLASS, C_NAMESPACE, C_INT, C_FAIL, C_RAISE,
       C_EXC_SET, C_SYSMOD, C_CORRUPT, NCREATE };
enum { E_NULL, E_OK, E_FAIL, E_RAISE, E_EXC_SET, E_POSITIVE, E_STATE,
       E_SYSMOD_REPLACE, E_SYSMOD_DELETE, E_REENTER, NEXEC };
/* Expected outcomes: success, or the exact type of the exception. */
enum { XP_OK, XP_SYSTEM, XP_SYSTEM_NAMED, XP_VALUE, XP_UNICODE_DECODE,
       XP_UNICODE_ENCODE, XP_ATTRIBUTE, XP_RUNTIME, XP_TYPE, XP_IMPORT_NAMED,
       XP_KEY, XP_ANY };

static const char *const path_names[] = {"direct", "import", "exec-only"};
static const char *const interp_names[] = {
    "main", "subinterpreter", "strict subinterpreter",
    "fresh subinterpreter", "fresh strict subinterpreter"};
static const char *const expect_names[] = {
    "success", "SystemError", "SystemError naming the module", "ValueError",
    "UnicodeDecodeError", "UnicodeEncodeError", "AttributeError",
    "RuntimeError", "TypeError", "ImportError naming the module", "KeyError",
    "anything"};
/* Module names: 4 is "\udc80" (not encodable), 5 is the int 42. */
#define NNAMES 6
#define NIMPORT_NAMES 2
static const char *const names[NNAMES] = {
    "fuzzmod", "pkg.fuzzmod", "", "\xc3\xa9t\xc3\xa9", "\\udc80", "42"};
#define NSPECS 5

typedef struct {
    int path, interp, name, spec, init, methods, doc, nslots;
    int kind[MAX_SLOTS];    /* palette index of each slot's value */
    PyModuleDef_Slot orig[MAX_SLOTS + 1];   /* the slots as decoded */
} scenario;

/* The definition under test, rebuilt for every run.  create_corrupt()
   modifies `slots` after validation; sc.orig keeps what was validated. */
static PyModuleDef def;
static PyModuleDef_Slot slots[MAX_SLOTS + 1];
static scenario sc;

/* Per run: what the functions of the definition did.  create_sysmod() puts
   placed_by_create in sys.modules (compared by identity only). */
static int create_calls, exec_calls, reenter_depth;
static PyObject *placed_by_create;
/* Per interpreter: the helpers (a dict, see helpers_src). */
static PyObject *helpers;
static const char *current_input;   /* replay: the file being run */
/* Features: the scenarios run, and the outcomes checked on each path.
   Under libFuzzer they are coverage features of their own (its "extra
   counters"), so that the fuzzer and the corpus minimization keep an input
   for each, even where two of them run the same code; the replay counts
   them and prints the counts. */
#define SCENARIO(path, interp) ((path) * NINTERPS + (interp))
#define OUTCOME(path, expected) (NPATHS * NINTERPS + (path) * (XP_ANY + 1) \
                                 + (expected))
#define NFEATURES OUTCOME(NPATHS, 0)
#ifdef FUZZ_REPLAY
static long features[NFEATURES];
#else
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t features[NFEATURES];
#endif

static void
describe(FILE *f)
{
    fprintf(f, "  path %s, %s, name %s, spec %d, init %d\n",
            path_names[sc.path], interp_names[sc.interp], names[sc.name],
            sc.spec, sc.init);
    fprintf(f, "  m_size %zd, methods %d, doc %d, traverse %d, clear %d, "
            "free %d, %s\n", def.m_size, sc.methods, sc.doc,
            def.m_traverse != NULL, def.m_clear != NULL, def.m_free != NULL,
            def.m_slots ? "slots:" : "m_slots NULL");
    for (int i = 0; def.m_slots && i < sc.nslots; i++) {
        fprintf(f, "    {%d, %p} (palette %d)\n", sc.orig[i].slot,
                sc.orig[i].value, sc.kind[i]);
    }
}

/* Report a violated invariant (fmt as for PyUnicode_FromFormat()). */
static void
fail(const char *fmt, ...)
{
    va_list ap;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    va_start(ap, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nmoddef: invariant violated%s%s: %s\n",
            current_input ? " by " : "", current_input ? current_input : "",
            msg ? PyUnicode_AsUTF8(msg) : fmt);
    describe(stderr);
    if (type != NULL) {
        PyErr_Restore(type, value, tb);
        PyErr_Print();
    }
    fflush(stderr);
    abort();
}

/* A helper call failed: that is a bug of the harness, not an invariant. */
static void
harness_error(const char *what)
{
    fprintf(stderr, "moddef: harness error: %s\n", what);
    PyErr_Print();
    abort();
}

static PyObject *
helper(const char *name)
{
    PyObject *f = PyDict_GetItemString(helpers, name);   /* borrowed */
    if (f == NULL) {
        harness_error(name);
    }
    return f;
}

/* Keep a weak reference to an object the run made, checked at the end. */
static void
watch(PyObject *obj)
{
    if (!PyType_SUPPORTS_WEAKREFS(Py_TYPE(obj))) {
        return;
    }
    PyObject *ref = PyWeakref_NewRef(obj, NULL);
    if (ref == NULL || PyList_Append(helper("watched"), ref) < 0) {
        harness_error("watch");
    }
    Py_DECREF(ref);
}

/* Put a placeholder in sys.modules[name] (replace != 0) or delete it. */
static int
set_sys_modules(PyObject *name, int replace)
{
    PyObject *modules = PyImport_GetModuleDict();
    if (!replace) {
        if (PyDict_DelItem(modules, name) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) {
                return -1;
            }
            PyErr_Clear();
        }
        return 0;
    }
    PyObject *placeholder = PyObject_CallNoArgs(helper("Namespace"));
    if (placeholder == NULL) {
        return -1;
    }
    int res = PyDict_SetItem(modules, name, placeholder);
    Py_DECREF(placeholder);
    return res;
}


/* The palette of Py_mod_create functions */

static PyObject *
new_module(PyObject *spec, int subclass)
{
    create_calls++;
    PyObject *name = PyObject_GetAttrString(spec, "name");
    if (name == NULL) {
        return NULL;
    }
    PyObject *m = subclass
        ? PyObject_CallOneArg(helper("ModuleSubclass"), name)
        : PyModule_NewObject(name);
    Py_DECREF(name);
    if (m != NULL) {
        watch(m);
    }
    return m;
}

static PyObject *
create_module(PyObject *spec, PyModuleDef *d)
{
    return new_module(spec, 0);
}

static PyObject *
create_subclass(PyObject *spec, PyModuleDef *d)
{
    return new_module(spec, 1);
}

static PyObject *
create_namespace(PyObject *spec, PyModuleDef *d)
{
    create_calls++;
    PyObject *ns = PyObject_CallNoArgs(helper("Namespace"));
    if (ns != NULL) {
        watch(ns);
    }
    return ns;
}

static PyObject *
create_int(PyObject *spec, PyModuleDef *d)
{
    create_calls++;
    return PyLong_FromLong(42);
}

static PyObject *
create_fail(PyObject *spec, PyModuleDef *d)
{
    create_calls++;
    return NULL;
}

static PyObject *
create_raise(PyObject *spec, PyModuleDef *d)
{
    create_calls++;
    PyErr_SetString(PyExc_ValueError, "create failed");
    return NULL;
}

static PyObject *
create_exc_set(PyObject *spec, PyModuleDef *d)
{
    PyObject *m = new_module(spec, 0);
    if (m != NULL) {
        PyErr_SetString(PyExc_ValueError, "exception left set by create");
    }
    return m;
}

static PyObject *
create_sysmod(PyObject *spec, PyModuleDef *d)
{
    PyObject *m = new_module(spec, 0);
    if (m == NULL) {
        return NULL;
    }
    PyObject *name = PyObject_GetAttrString(spec, "name");
    if (name == NULL || set_sys_modules(name, 1) < 0) {
        Py_XDECREF(name);
        Py_DECREF(m);
        return NULL;
    }
    placed_by_create = PyDict_GetItemWithError(PyImport_GetModuleDict(),
                                               name);
    Py_DECREF(name);
    return m;
}

/* Break the definition after it was validated: NULL every exec slot. */
static PyObject *
create_corrupt(PyObject *spec, PyModuleDef *d)
{
    for (PyModuleDef_Slot *s = d->m_slots; s && s->slot; s++) {
        if (s->slot == Py_mod_exec) {
            s->value = NULL;
        }
    }
    return new_module(spec, 0);
}

static void *const create_palette[NCREATE] = {
    NULL, create_module, create_subclass, create_namespace, create_int,
    create_fail, create_raise, create_exc_set, create_sysmod, create_corrupt};


/* The module state: when the definition has m_free and room for a
   pointer, the state holds an object (set by exec_state) that m_traverse
   visits and m_clear/m_free release; otherwise it is raw bytes. */
static PyObject **
state_object(PyObject *m)
{
    PyModuleDef *d = PyModule_GetDef(m);
    void *state = PyModule_GetState(m);
    if (d == NULL || state == NULL || d->m_free == NULL
        || d->m_size < (Py_ssize_t)sizeof(PyObject *)) {
        return NULL;
    }
    return (PyObject **)state;
}

static int
mod_traverse(PyObject *m, visitproc visit, void *arg)
{
    PyObject **obj = state_object(m);
    if (obj != NULL) {
        Py_VISIT(*obj);
    }
    return 0;
}

static int
mod_clear(PyObject *m)
{
    PyObject **obj = state_object(m);
    if (obj != NULL) {
        Py_CLEAR(*obj);
    }
    return 0;
}

static void
mod_free(void *m)
{
    mod_clear((PyObject *)m);
}


/* The palette of Py_mod_exec functions */

static int
exec_ok(PyObject *m)
{
    exec_calls++;
    watch(m);
    return PyModule_AddIntConstant(m, "x", 1);
}

static int
exec_fail(PyObject *m)
{
    exec_calls++;
    return -1;
}

static int
exec_raise(PyObject *m)
{
    exec_calls++;
    PyErr_SetString(PyExc_ValueError, "exec failed");
    return -1;
}

static int
exec_exc_set(PyObject *m)
{
    exec_calls++;
    PyErr_SetString(PyExc_ValueError, "exception left set by exec");
    return 0;
}

static int
exec_positive(PyObject *m)
{
    exec_calls++;
    return 1;
}

/* Use all of the state: ASan checks that it is m_size bytes. */
static int
exec_state(PyObject *m)
{
    exec_calls++;
    watch(m);
    PyModuleDef *d = PyModule_GetDef(m);
    char *state = PyModule_GetState(m);
    if (d == NULL || state == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject **obj = state_object(m);
    if (obj == NULL) {
        memset(state, 0xA5, d->m_size);
        return 0;
    }
    memset(state + sizeof(PyObject *), 0xA5, d->m_size - sizeof(PyObject *));
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return -1;
    }
    Py_XSETREF(*obj, list);
    return 0;
}

static int
exec_sysmod(PyObject *m, int replace)
{
    exec_calls++;
    watch(m);
    PyObject *name = PyModule_GetNameObject(m);
    if (name == NULL) {
        return -1;
    }
    int res = set_sys_modules(name, replace);
    Py_DECREF(name);
    return res;
}

static int
exec_sysmod_replace(PyObject *m)
{
    return exec_sysmod(m, 1);
}

static int
exec_sysmod_delete(PyObject *m)
{
    return exec_sysmod(m, 0);
}

/* Execute the module again from its own exec function, once. */
static int
exec_reenter(PyObject *m)
{
    exec_calls++;
    if (reenter_depth > 0) {
        return 0;
    }
    PyModuleDef *d = PyModule_GetDef(m);
    if (d == NULL) {
        return -1;
    }
    reenter_depth++;
    int res = PyModule_ExecDef(m, d);
    reenter_depth--;
    return res;
}

static void *const exec_palette[NEXEC] = {
    NULL, exec_ok, exec_fail, exec_raise, exec_exc_set, exec_positive,
    exec_state, exec_sysmod_replace, exec_sysmod_delete, exec_reenter};


static PyObject *
meth_f(PyObject *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static PyMethodDef good_methods[] = {
    {"f", meth_f, METH_NOARGS, "f()"},
    {NULL, NULL, 0, NULL}
};

/* Module functions cannot be class methods: ValueError. */
static PyMethodDef bad_methods[] = {
    {"f", meth_f, METH_NOARGS | METH_CLASS, NULL},
    {NULL, NULL, 0, NULL}
};


/* Decoding */

typedef struct {
    const uint8_t *data;
    size_t size;
} reader;

/* The next byte modulo n; 0 once the input is exhausted. */
static int
next(reader *r, int n)
{
    if (r->size == 0) {
        return 0;
    }
    r->size--;
    return *r->data++ % n;
}

static void
decode_slot(reader *r, int i)
{
    static const intptr_t multi_values[] = {0, 1, 2, 3, -1};
    static const intptr_t gil_values[] = {0, 1, 2, -1};
    static const int unknown_ids[] = {5, -1, INT_MAX, INT_MIN, 0};
    PyModuleDef_Slot *s = &slots[i];
    int id_class = next(r, 8);
    int v = next(r, 256);
    sc.kind[i] = 0;
    switch (id_class) {
    case 0: case 1:
        s->slot = Py_mod_create;
        sc.kind[i] = v % NCREATE;
        s->value = create_palette[sc.kind[i]];
        break;
    case 2: case 3:
        s->slot = Py_mod_exec;
        sc.kind[i] = v % NEXEC;
        s->value = exec_palette[sc.kind[i]];
        break;
    case 4:
        s->slot = Py_mod_multiple_interpreters;
        s->value = (void *)multi_values[v % 5];
        break;
    case 5:
        s->slot = Py_mod_gil;
        s->value = (void *)gil_values[v % 4];
        break;
    case 6:
        /* Unknown IDs, and 0, which ends the array early. */
        s->slot = unknown_ids[v % 5];
        s->value = v & 0x80 ? (void *)create_module : NULL;
        break;
    default:
        /* Any small ID, with a NULL value. */
        s->slot = (int8_t)v;
        s->value = NULL;
        break;
    }
}

static void
decode(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    int b = next(&r, 256);
    memset(&sc, 0, sizeof(sc));
    sc.path = b % NPATHS;
    sc.interp = b / NPATHS % NINTERPS;
    sc.name = next(&r, sc.path == P_IMPORT ? NIMPORT_NAMES : NNAMES);
    sc.spec = next(&r, NSPECS);
    sc.init = next(&r, NINITS);
    int flags = next(&r, 256);
    sc.methods = flags & 3;
    sc.doc = (flags >> 2) & 3;

    PyModuleDef fresh = {PyModuleDef_HEAD_INIT, "fuzzmod"};
    def = fresh;
    def.m_methods = sc.methods == 1 ? good_methods
                    : sc.methods == 2 ? bad_methods : NULL;
    def.m_doc = sc.doc == 1 ? "fuzzed module"
                : sc.doc == 2 ? "invalid \xff UTF-8" : NULL;
    def.m_traverse = flags & 0x10 ? mod_traverse : NULL;
    def.m_clear = flags & 0x20 ? mod_clear : NULL;
    def.m_free = flags & 0x40 ? mod_free : NULL;
    switch (next(&r, 4)) {
    case 0: def.m_size = 0; break;
    case 1: def.m_size = sizeof(PyObject *); break;
    case 2: def.m_size = 1 + next(&r, 256); break;
    default: def.m_size = -1 - next(&r, 256); break;
    }
    memset(slots, 0, sizeof(slots));
    sc.nslots = next(&r, MAX_SLOTS + 1);
    for (int i = 0; i < sc.nslots; i++) {
        decode_slot(&r, i);
    }
    memcpy(sc.orig, slots, sizeof(slots));
    def.m_slots = flags & 0x80 ? NULL : slots;
}


/* The oracle: the outcome the definition calls for */

static int
in_subinterpreter(void)
{
    return sc.interp != I_MAIN;
}

/* PyModule_FromDefAndSpec2().  *made: 1 module, 2 other object.
   *before_create: the failure comes before any create function runs. */
static int
predict_create(int spec_kind, int *made, int *before_create)
{
    int create = -1, has_exec = 0, multi = 0, gil = 0, malformed = 0;
    void *multi_value = (void *)1;

    *before_create = 1;
    *made = 0;
    if (spec_kind == 4) {
        return XP_ATTRIBUTE;
    }
    if (sc.name == 4) {
        return XP_UNICODE_ENCODE;
    }
    if (sc.name == 5) {
        return XP_TYPE;
    }
    if (def.m_size < 0) {
        return XP_SYSTEM_NAMED;
    }
    for (int i = 0; def.m_slots && i < sc.nslots && sc.orig[i].slot; i++) {
        void *value = sc.orig[i].value;
        switch (sc.orig[i].slot) {
        case Py_mod_create:
            malformed |= create >= 0 || value == NULL;
            create = sc.kind[i];
            break;
        case Py_mod_exec:
            malformed |= value == NULL;
            has_exec = 1;
            break;
        case Py_mod_multiple_interpreters:
            malformed |= multi++ || (uintptr_t)value > 2;
            multi_value = value;
            break;
        case Py_mod_gil:
            malformed |= gil++ || (uintptr_t)value > 1;
            break;
        default:
            malformed = 1;
        }
    }
    if (malformed) {
        return XP_SYSTEM_NAMED;
    }
    if (multi_value == NULL && in_subinterpreter()) {
        return spec_kind == 2 ? XP_ATTRIBUTE
               : spec_kind == 3 ? XP_RUNTIME : XP_IMPORT_NAMED;
    }
    *before_create = 0;
    switch (create) {
    case C_FAIL: case C_EXC_SET:
        return XP_SYSTEM_NAMED;
    case C_RAISE:
        return XP_VALUE;
    case C_NAMESPACE: case C_INT:
        if (def.m_size > 0 || def.m_traverse || def.m_clear || def.m_free
            || has_exec) {
            return XP_SYSTEM_NAMED;
        }
        *made = 2;
        break;
    default:
        *made = 1;
    }
    if (sc.methods == 2) {
        return XP_VALUE;
    }
    int is_int = create == C_INT;
    if (sc.methods == 1 && is_int) {
        return XP_ATTRIBUTE;
    }
    if (sc.doc == 2) {
        return XP_UNICODE_DECODE;
    }
    if (sc.doc == 1 && is_int) {
        return XP_ATTRIBUTE;
    }
    return XP_OK;
}

/* PyModule_ExecDef() on a module named by the scenario, with the slots as
   they are now.  *sysmod: the last change of sys.modules (1 replaced,
   2 deleted) by the exec functions that ran. */
static int
predict_exec(int *sysmod)
{
    *sysmod = 0;
    if (sc.name == 5) {
        return XP_SYSTEM;    /* "nameless module" */
    }
    if (sc.name == 4) {
        return XP_UNICODE_ENCODE;
    }
    for (int i = 0; def.m_slots && slots[i].slot; i++) {
        switch (slots[i].slot) {
        case Py_mod_create:
        case Py_mod_multiple_interpreters:
        case Py_mod_gil:
            continue;
        case Py_mod_exec:
            break;
        default:
            return XP_SYSTEM_NAMED;
        }
        if (slots[i].value == NULL) {
            return XP_SYSTEM_NAMED;
        }
        switch (sc.kind[i]) {
        case E_FAIL: case E_EXC_SET: case E_POSITIVE:
            return XP_SYSTEM_NAMED;
        case E_RAISE:
            return XP_VALUE;
        case E_REENTER:
            return XP_ANY;
        case E_SYSMOD_REPLACE:
            *sysmod = 1;
            break;
        case E_SYSMOD_DELETE:
            *sysmod = 2;
            break;
        }
    }
    return XP_OK;
}


/* Checking an outcome */

static PyObject *
exception_type(int expected)
{
    switch (expected) {
    case XP_SYSTEM: case XP_SYSTEM_NAMED: return PyExc_SystemError;
    case XP_VALUE: return PyExc_ValueError;
    case XP_UNICODE_DECODE: return PyExc_UnicodeDecodeError;
    case XP_UNICODE_ENCODE: return PyExc_UnicodeEncodeError;
    case XP_ATTRIBUTE: return PyExc_AttributeError;
    case XP_RUNTIME: return PyExc_RuntimeError;
    case XP_TYPE: return PyExc_TypeError;
    case XP_IMPORT_NAMED: return PyExc_ImportError;
    case XP_KEY: return PyExc_KeyError;
    }
    return NULL;
}

/* The ImportError of a module refused in a subinterpreter. */
static void
check_import_error(PyObject *exc, PyObject *name, PyObject *path)
{
    PyObject *exc_name = PyObject_GetAttrString(exc, "name");
    PyObject *exc_path = PyObject_GetAttrString(exc, "path");
    if (exc_name == NULL || exc_path == NULL) {
        harness_error("ImportError attributes");
    }
    if (PyObject_RichCompareBool(exc_name, name, Py_EQ) != 1) {
        fail("ImportError.name is %R", exc_name);
    }
    if (PyObject_RichCompareBool(exc_path, path, Py_EQ) != 1) {
        fail("ImportError.path is %R", exc_path);
    }
    Py_DECREF(exc_name);
    Py_DECREF(exc_path);
}

/* Check the outcome of a step (failed: it returned an error) against the
   expected one, then clear the exception.  path: the file the ImportError
   of a refused module names (None if the spec has no location). */
static void
check(const char *step, int failed, int expected, PyObject *name,
      PyObject *path)
{
    features[OUTCOME(sc.path, expected)]++;
    if (failed != (PyErr_Occurred() != NULL)) {
        fail("%s %s", step, failed ? "failed without an exception"
                                   : "succeeded with an exception set");
    }
    if (!failed) {
        if (expected != XP_OK && expected != XP_ANY) {
            fail("%s succeeded, expected %s", step, expect_names[expected]);
        }
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *want = exception_type(expected);
    if (expected == XP_OK || (want != NULL && type != want)) {
        PyObject *repr = PyObject_Repr(value);
        fail("%s raised %s, expected %s", step,
             repr ? PyUnicode_AsUTF8(repr) : "?", expect_names[expected]);
    }
    if (expected == XP_SYSTEM_NAMED || expected == XP_IMPORT_NAMED) {
        PyObject *str = PyObject_Str(value);
        const char *msg = str ? PyUnicode_AsUTF8(str) : NULL;
        if (msg == NULL) {
            harness_error("str(exception)");
        }
        /* importdl.c names the module by its last component. */
        const char *modname = sc.init == INIT_NULL && sc.path == P_IMPORT
                              ? "fuzzmod" : names[sc.name];
        if (strstr(msg, modname) == NULL) {
            fail("%s: the message does not name the module: %s", step, msg);
        }
        if (expected == XP_IMPORT_NAMED
            && strstr(msg, "does not support loading in subinterpreters")
               == NULL) {
            fail("%s: not the subinterpreter refusal: %s", step, msg);
        }
        Py_DECREF(str);
    }
    if (expected == XP_IMPORT_NAMED) {
        check_import_error(value, name, path);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}


/* The three paths */

static PyObject *
make_name(void)
{
    if (sc.name == 4) {
        return PyUnicode_DecodeUTF8("\xed\xb2\x80", 3, "surrogatepass");
    }
    if (sc.name == 5) {
        return PyLong_FromLong(42);
    }
    return PyUnicode_FromString(names[sc.name]);
}

static void
run_direct(PyObject *name, PyObject *path)
{
    PyObject *spec = PyObject_CallFunction(helper("spec"), "iOO", sc.spec,
                                           name, path);
    if (spec == NULL) {
        harness_error("spec");
    }
    int made, before_create, sysmod;
    int expected = predict_create(sc.spec, &made, &before_create);
    PyObject *m = PyModule_FromDefAndSpec2(&def, spec, PYTHON_API_VERSION);
    check("PyModule_FromDefAndSpec2()", m == NULL, expected, name,
          sc.spec == 0 ? path : Py_None);
    if (before_create && create_calls) {
        fail("the create function ran for a definition refused "
             "before creation");
    }
    if (m == NULL && exec_calls) {
        fail("an exec function ran during creation");
    }
    if (m != NULL && made == 1 && !PyModule_Check(m)) {
        fail("PyModule_FromDefAndSpec2() returned %R", m);
    }
    if (m != NULL && sc.methods == 1 && !PyObject_HasAttrString(m, "f")) {
        fail("the module has no function f");
    }
    if (m != NULL && PyModule_Check(m)) {
        watch(m);
        expected = predict_exec(&sysmod);
        check("PyModule_ExecDef()", PyModule_ExecDef(m, &def) < 0,
              expected, name, Py_None);
    }
    Py_XDECREF(m);
    Py_DECREF(spec);
}

/* The outcome of the import, predicted after it ran: the slots are as the
   create function left them. */
static int
predict_import(void)
{
    int made, before_create, sysmod;

    if (sc.init == INIT_RAISE) {
        return XP_VALUE;
    }
    if (sc.init == INIT_NULL) {
        return XP_SYSTEM_NAMED;
    }
    if (sc.init == INIT_SINGLE && (sc.interp == I_STRICT
                                   || sc.interp == I_FRESH_STRICT)) {
        return XP_IMPORT_NAMED;
    }
    int expected = predict_create(0, &made, &before_create);
    if (expected != XP_OK || made != 1) {
        return expected;
    }
    expected = predict_exec(&sysmod);
    if (expected == XP_OK && sysmod == 2) {
        return XP_KEY;   /* _load() pops the module it executed */
    }
    return expected;
}

static void
run_import(PyObject *name, PyObject *path)
{
    PyObject *modules = PyImport_GetModuleDict();
    if (PyDict_GetItemWithError(modules, name) != NULL) {
        fail("%R is in sys.modules before the import", name);
    }
    PyObject *result = PyObject_CallFunctionObjArgs(helper("load"), name,
                                                    path, NULL);
    check("import", result == NULL, predict_import(), name, path);
    /* What the create function put there is its own business: the import
       system does not know about it, and does not clean it up. */
    PyObject *entry = PyDict_GetItemWithError(modules, name);
    if (result == NULL && entry != NULL && entry != placed_by_create) {
        fail("a failed import left %R in sys.modules", entry);
    }
    if (result != NULL && entry != result) {
        fail("sys.modules holds %R, not the result of the import", entry);
    }
    if (result != NULL && sc.interp != I_FRESH_SUB
        && sc.interp != I_FRESH_STRICT) {
        watch(result);
    }
    /* A fresh interpreter's finalization releases the module. */
    Py_XDECREF(result);
}

static void
run_exec_only(PyObject *name)
{
    PyObject *m = PyModule_NewObject(name);
    if (m == NULL) {
        harness_error("PyModule_NewObject");
    }
    watch(m);
    int sysmod;
    int expected = predict_exec(&sysmod);
    check("PyModule_ExecDef()", PyModule_ExecDef(m, &def) < 0, expected,
          name, Py_None);
    if (create_calls) {
        fail("PyModule_ExecDef() called a create function");
    }
    Py_DECREF(m);
}


/* Interpreters */

static const char helpers_src[] =
    "import sys\n"
    "from _frozen_importlib import _load\n"
    "from _frozen_importlib_external import (ExtensionFileLoader,\n"
    "                                        spec_from_file_location)\n"
    "watched = []\n"
    "class ModuleSubclass(type(sys)):\n"
    "    pass\n"
    "class Namespace:\n"
    "    pass\n"
    "class BadBool:\n"
    "    def __bool__(self):\n"
    "        raise RuntimeError('has_location cannot be computed')\n"
    "def file_spec(name, path):\n"
    "    loader = ExtensionFileLoader(name, path)\n"
    "    return spec_from_file_location(name, path, loader=loader)\n"
    "def spec(kind, name, path):\n"
    "    if kind == 0:\n"
    "        return file_spec(name, path)\n"
    "    ns = Namespace()\n"
    "    if kind != 4:\n"
    "        ns.name = name\n"
    "    if kind == 2:\n"
    "        ns.has_location = True\n"
    "    if kind == 3:\n"
    "        ns.has_location = BadBool()\n"
    "    return ns\n"
    "def load(name, path):\n"
    "    return _load(file_spec(name, path))\n";

/* The helpers of the current interpreter (a new dict). */
static PyObject *
new_helpers(void)
{
    PyObject *globals = PyDict_New();
    if (globals == NULL
        || PyDict_SetItemString(globals, "__builtins__",
                                PyEval_GetBuiltins()) < 0) {
        harness_error("helpers");
    }
    PyObject *res = PyRun_String(helpers_src, Py_file_input, globals,
                                 globals);
    if (res == NULL) {
        harness_error("helpers");
    }
    Py_DECREF(res);
    return globals;
}

typedef struct {
    PyThreadState *tstate;
    PyObject *helpers;
} interp;

/* The main interpreter and the persistent subinterpreters. */
static interp interps[3];

static void
init_python(void)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.pathconfig_warnings = 0;
    config.site_import = 0;
    config.module_search_paths_set = 1;
    PyStatus status = PyWideStringList_Append(&config.module_search_paths,
                                              WIDE(FUZZ_STDLIB));
    if (!PyStatus_Exception(status)) {
        status = Py_InitializeFromConfig(&config);
    }
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        Py_ExitStatusException(status);
    }
    interps[I_MAIN].tstate = PyThreadState_Get();
    interps[I_MAIN].helpers = new_helpers();
    for (int i = I_SUB; i <= I_STRICT; i++) {
        interps[i].tstate = _Py_NewInterpreterEx(0, i == I_STRICT);
        if (interps[i].tstate == NULL) {
            harness_error("subinterpreter");
        }
        interps[i].helpers = new_helpers();
    }
    PyThreadState_Swap(interps[I_MAIN].tstate);
}

/* Called by PyInit_fuzzmod(). */
void *fuzz_init(void);

void *
fuzz_init(void)
{
    static PyModuleDef single_phase = {
        PyModuleDef_HEAD_INIT, "fuzzmod", NULL, -1, NULL};

    switch (sc.init) {
    case INIT_RAISE:
        PyErr_SetString(PyExc_ValueError, "PyInit_fuzzmod failed");
        return NULL;
    case INIT_NULL:
        return NULL;
    case INIT_SINGLE:
        /* A single-phase module would stay in the extensions cache: only
           where it must be refused. */
        if (sc.interp == I_STRICT || sc.interp == I_FRESH_STRICT) {
            return PyModule_Create(&single_phase);
        }
        break;
    }
    return PyModuleDef_Init(&def);
}

/* Run the input once. */
static void
run(const uint8_t *data, size_t size)
{
    decode(data, size);
    features[SCENARIO(sc.path, sc.interp)]++;
    create_calls = exec_calls = reenter_depth = 0;
    placed_by_create = NULL;
    int fresh = sc.interp == I_FRESH_SUB || sc.interp == I_FRESH_STRICT;
    if (fresh) {
        if (_Py_NewInterpreterEx(0, sc.interp == I_FRESH_STRICT) == NULL) {
            harness_error("subinterpreter");
        }
        helpers = new_helpers();
    }
    else {
        PyThreadState_Swap(interps[sc.interp].tstate);
        helpers = interps[sc.interp].helpers;
    }

    PyObject *name = make_name();
    PyObject *path = PyUnicode_FromString(FUZZ_MODULE);
    if (name == NULL || path == NULL) {
        harness_error("name");
    }
    switch (sc.path) {
    case P_DIRECT:
        run_direct(name, path);
        break;
    case P_IMPORT:
        run_import(name, path);
        break;
    default:
        run_exec_only(name);
    }

    if (fresh) {
        Py_DECREF(name);
        Py_DECREF(path);
        Py_DECREF(helpers);
        Py_EndInterpreter(PyThreadState_Get());
    }
    else {
        /* What the run put in sys.modules, then every object it made must
           be gone. */
        if (PyDict_DelItem(PyImport_GetModuleDict(), name) < 0) {
            PyErr_Clear();
        }
        Py_DECREF(name);
        Py_DECREF(path);
        PyGC_Collect();
        PyObject *watched = helper("watched");
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(watched); i++) {
            PyObject *obj = PyWeakref_GetObject(PyList_GET_ITEM(watched, i));
            if (obj != Py_None) {
                fail("%R is still alive after the run", obj);
            }
        }
        if (PyList_SetSlice(watched, 0, PY_SSIZE_T_MAX, NULL) < 0) {
            harness_error("watched");
        }
    }
    PyThreadState_Swap(interps[I_MAIN].tstate);
    helpers = NULL;
}

/* Run the input until a run leaves the total reference count unchanged:
   a leak changes it every time, a cache that fills (interned strings, the
   type attribute cache) does so once or twice.  Three changes in a row are
   a leak. */
static void
run_input(const uint8_t *data, size_t size)
{
    Py_ssize_t delta[3];
    for (int i = 0; i < 3; i++) {
        Py_ssize_t before = _Py_GetRefTotal();
        run(data, size);
        delta[i] = _Py_GetRefTotal() - before;
        if (delta[i] == 0) {
            return;
        }
    }
    fail("a run leaks references (%zd, %zd, then %zd)",
         delta[0], delta[1], delta[2]);
}

#ifndef FUZZ_REPLAY

#include <sanitizer/lsan_interface.h>
#include <unistd.h>

/* libFuzzer's own leak detection (-detect_leaks=1) checks only the inputs
   that allocate more than they free, and makes the runs here three times
   slower: `make fuzz` turns it off, and this checks the whole heap once,
   when the fuzzer exits.  The interpreter is never finalized, so all the
   memory it still uses is reachable: what is not is a leak. */
static void
check_leaks_at_exit(void)
{
    if (__lsan_do_recoverable_leak_check()) {
        _exit(1);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    init_python();
    atexit(check_leaks_at_exit);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_input(data, size);
    return 0;
}

#else

static int nfiles;

static void
replay_file(const char *filename)
{
    FILE *f = fopen(filename, "rb");
    if (f == NULL) {
        perror(filename);
        exit(2);
    }
    static uint8_t buf[1 << 16];
    size_t size = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    current_input = filename;
    run_input(buf, size);
    nfiles++;
}

int
main(int argc, char **argv)
{
    init_python();
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *dir = opendir(argv[i]);
            struct dirent *e;
            while (dir && (e = readdir(dir)) != NULL) {
                if (e->d_name[0] != '.') {
                    char file[4096];
                    snprintf(file, sizeof(file), "%s/%s", argv[i], e->d_name);
                    replay_file(file);
                }
            }
            if (dir) {
                closedir(dir);
            }
        }
        else {
            replay_file(argv[i]);
        }
    }
    printf("%d inputs replayed\n", nfiles);
    for (int p = 0; p < NPATHS; p++) {
        for (int i = 0; i < NINTERPS; i++) {
            printf("scenario %s, %s: %ld\n", path_names[p], interp_names[i],
                   features[SCENARIO(p, i)]);
        }
    }
    for (int p = 0; p < NPATHS; p++) {
        for (int x = 0; x <= XP_ANY; x++) {
            printf("outcome %s, %s: %ld\n", path_names[p], expect_names[x],
                   features[OUTCOME(p, x)]);
        }
    }
    return 0;
}

#endif
