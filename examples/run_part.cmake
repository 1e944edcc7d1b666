# Runs one tour part and checks it: exit code 0, and every `// expect: REGEX`
# line of its source matches the output.
execute_process(COMMAND ${TOUR} ${PART} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
  TIMEOUT 50)
message("${out}")
if(err)
  message("stderr: ${err}")
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tour ${PART} exited with ${rc}")
endif()
file(STRINGS ${SOURCE} expects REGEX "^// expect: ")
foreach(line IN LISTS expects)
  string(REGEX REPLACE "^// expect: " "" regex "${line}")
  if(NOT out MATCHES "${regex}")
    message(FATAL_ERROR "tour ${PART}: output does not match `${regex}`")
  endif()
endforeach()
