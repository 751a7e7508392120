# Writes OUTPUT: a C++ source holding every file of TEMPLATES (a ;-list) as
# a string, for fastapi_templates(). Run at build time, so editing a template
# rebuilds the generator.
set(body "")
foreach(path ${TEMPLATES})
  get_filename_component(name ${path} NAME)
  file(READ ${path} text)
  string(APPEND body "        {\"${name}\", R\"PYTEMPLATE(${text})PYTEMPLATE\"},\n")
endforeach()
file(WRITE ${OUTPUT}.tmp "// Generated from analyzer/api/templates/ by embed_templates.cmake: do not edit.
#include \"analyzer/api/fastapi_project.hpp\"

namespace pymigrate::analyzer::api {

const std::map<std::string, std::string> &
fastapi_templates()
{
    static const std::map<std::string, std::string> templates = {
${body}    };
    return templates;
}

} // namespace pymigrate::analyzer::api
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
