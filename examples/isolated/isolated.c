/* isolated: an example of an isolated multi-phase extension module (PEP 489).
 *
 * Everything a module instance owns lives in its module state: the Counter
 * type (a heap type created from a spec), the exception class, and a running
 * total.  Importing the module again (after removing it from sys.modules, or
 * in a subinterpreter) creates a new module object with a new state and new
 * types, so nothing is shared between instances and nothing leaks when one
 * goes away.
 *
 * Methods reach the state of the module that defined them through their
 * defining class (METH_METHOD), which is O(1), not through a search of the
 * instance type's MRO.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>        /* T_OBJECT */

typedef struct {
    PyTypeObject *Counter_Type;
    PyObject *Error;
    long long total;            /* increments made by this module's Counters */
} isolated_state;

static inline isolated_state *
get_state(PyObject *module)
{
    return (isolated_state *)PyModule_GetState(module);
}

/* Counter ****************************************************************/

typedef struct {
    PyObject_HEAD
    long long value;
    PyObject *label;            /* any object: may form reference cycles */
} CounterObject;

static int
Counter_traverse(CounterObject *self, visitproc visit, void *arg)
{
    /* Instances of a heap type own a reference to it. */
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->label);
    return 0;
}

static int
Counter_clear(CounterObject *self)
{
    Py_CLEAR(self->label);
    return 0;
}

static void
Counter_dealloc(CounterObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)Counter_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int
Counter_init(CounterObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"label", NULL};
    PyObject *label = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Counter", kwlist,
                                     &label)) {
        return -1;
    }
    Py_INCREF(label);
    Py_XSETREF(self->label, label);
    return 0;
}

static PyObject *
Counter_increment(CounterObject *self, PyTypeObject *defining_class,
                  PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    long long step = 1;
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames)) {
        PyErr_SetString(PyExc_TypeError,
                        "increment() takes no keyword arguments");
        return NULL;
    }
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "increment() takes at most 1 argument (%zd given)", nargs);
        return NULL;
    }
    if (nargs == 1) {
        step = PyLong_AsLongLong(args[0]);
        if (step == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    isolated_state *state = PyType_GetModuleState(defining_class);
    if (step < 0) {
        PyErr_SetString(state->Error, "a Counter only goes up");
        return NULL;
    }
    self->value += step;
    state->total += step;
    return PyLong_FromLongLong(self->value);
}

static PyObject *
Counter_get_value(CounterObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->value);
}

static PyMethodDef Counter_methods[] = {
    {"increment", (PyCFunction)(void(*)(void))Counter_increment,
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("increment($self, step=1, /)\n--\n\n"
               "Add step to the counter and to the module's total.")},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef Counter_members[] = {
    {"label", T_OBJECT, offsetof(CounterObject, label), 0,
     PyDoc_STR("the label given at creation")},
    {NULL}
};

static PyGetSetDef Counter_getset[] = {
    {"value", (getter)Counter_get_value, NULL, PyDoc_STR("current value"),
     NULL},
    {NULL}
};

static PyType_Slot Counter_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("Counter(label=None)\n--\n\n"
                                  "A counter that only goes up.")},
    {Py_tp_init, Counter_init},
    {Py_tp_traverse, Counter_traverse},
    {Py_tp_clear, Counter_clear},
    {Py_tp_dealloc, Counter_dealloc},
    {Py_tp_methods, Counter_methods},
    {Py_tp_members, Counter_members},
    {Py_tp_getset, Counter_getset},
    {0, NULL}
};

static PyType_Spec Counter_spec = {
    .name = "isolated.Counter",
    .basicsize = sizeof(CounterObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC
              | Py_TPFLAGS_IMMUTABLETYPE),
    .slots = Counter_slots,
};

/* Module *****************************************************************/

static PyObject *
isolated_total(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLongLong(get_state(module)->total);
}

static PyMethodDef isolated_methods[] = {
    {"total", isolated_total, METH_NOARGS,
     PyDoc_STR("total($module, /)\n--\n\n"
               "Sum of the increments of this module's Counters.")},
    {NULL, NULL, 0, NULL}
};

static int
isolated_exec(PyObject *module)
{
    isolated_state *state = get_state(module);
    state->total = 0;
    state->Counter_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &Counter_spec, NULL);
    if (state->Counter_Type == NULL) {
        return -1;
    }
    if (PyModule_AddType(module, state->Counter_Type) < 0) {
        return -1;
    }
    state->Error = PyErr_NewException("isolated.Error", NULL, NULL);
    if (state->Error == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Error", state->Error) < 0) {
        return -1;
    }
    return 0;
}

static int
isolated_traverse(PyObject *module, visitproc visit, void *arg)
{
    isolated_state *state = get_state(module);
    Py_VISIT(state->Counter_Type);
    Py_VISIT(state->Error);
    return 0;
}

static int
isolated_clear(PyObject *module)
{
    isolated_state *state = get_state(module);
    Py_CLEAR(state->Counter_Type);
    Py_CLEAR(state->Error);
    return 0;
}

static void
isolated_free(void *module)
{
    (void)isolated_clear((PyObject *)module);
}

static PyModuleDef_Slot isolated_slots[] = {
    {Py_mod_exec, isolated_exec},
    /* No process-global state: any interpreter may load its own copy. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    /* Counters are not thread-safe without the GIL. */
    {Py_mod_gil, Py_MOD_GIL_USED},
    {0, NULL}
};

static struct PyModuleDef isolated_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "isolated",
    .m_doc = PyDoc_STR("An isolated multi-phase extension module."),
    .m_size = sizeof(isolated_state),
    .m_methods = isolated_methods,
    .m_slots = isolated_slots,
    .m_traverse = isolated_traverse,
    .m_clear = isolated_clear,
    .m_free = isolated_free,
};

PyMODINIT_FUNC
PyInit_isolated(void)
{
    return PyModuleDef_Init(&isolated_module);
}
