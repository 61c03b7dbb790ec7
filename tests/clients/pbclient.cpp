// A pybind11 client of the fork (single-phase init: PyModule_Create).
// tests/test_clients.py compiles it with g++ against the interpreter under
// test, with the pybind11 headers of Debian's pybind11-dev.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

namespace py = pybind11;

struct Pet {
    Pet(std::string name, int age) : name(std::move(name)), age(age) {}
    std::string greet() const {
        return name + " is " + std::to_string(age);
    }
    std::string name;
    int age;
};

static int add(int a, int b) { return a + b; }

static std::vector<int> doubled(const std::vector<int> &values) {
    std::vector<int> result;
    for (int v : values) {
        result.push_back(2 * v);
    }
    return result;
}

PYBIND11_MODULE(pbclient, m) {
    m.doc() = "pybind11 client of the fork";
    py::class_<Pet>(m, "Pet")
        .def(py::init<std::string, int>())
        .def("greet", &Pet::greet)
        .def_readonly("name", &Pet::name)
        .def_readwrite("age", &Pet::age);
    m.def("add", &add, py::arg("a"), py::arg("b") = 1);
    m.def("doubled", &doubled);
}
