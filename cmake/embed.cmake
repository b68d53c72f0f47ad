# Writes OUTPUT, a C++ file defining `std::string_view NAMESPACE::FUNCTION()`
# that returns the bytes of INPUT; fails when INPUT is a .json file that is
# not JSON.
# Run at build time (cmake -P), so the binary reads nothing from disk.
#   cmake -DINPUT=doc.json -DOUTPUT=doc.cpp -DNAMESPACE=ns -DFUNCTION=fn -P embed.cmake
if(INPUT MATCHES "\\.json$")
  file(READ "${INPUT}" text)
  string(JSON ignored ERROR_VARIABLE problem TYPE "${text}")
  if(problem)
    message(FATAL_ERROR "${INPUT} is not valid JSON: ${problem}")
  endif()
endif()
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed.cmake: edit that file instead.\n"
  "#include <string_view>\n\n"
  "namespace ${NAMESPACE} {\nnamespace {\nconstexpr char kBytes[] = {\n${bytes}};\n}  // namespace\n\n"
  "std::string_view ${FUNCTION}() {\n  return {kBytes, sizeof kBytes};\n}\n\n}  // namespace ${NAMESPACE}\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
