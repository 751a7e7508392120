// Out-of-line halves of the error boundary declared in guard.hpp.
#include "pg/guard.hpp"

#include <cstring>
#include <new>

namespace pymigrate::pg {
namespace {

template <size_t N>
void
copy_text(char (&dst)[N], const char *src) noexcept
{
    if (src == nullptr) {
        dst[0] = '\0';
        return;
    }
    strlcpy(dst, src, N);
}

} // namespace

void
capture_current_exception(PendingError &out, const char *where) noexcept
{
    try {
        throw;
    } catch (const PgError &e) {
        out.sqlstate = e.sqlstate();
        out.from_postgres = true;
        copy_text(out.message, e.what());
        copy_text(out.detail, e.detail().c_str());
        copy_text(out.hint, e.hint().c_str());
        copy_text(out.context, e.context().c_str());
    } catch (const Error &e) {
        out.sqlstate = e.sqlstate();
        copy_text(out.message, e.what());
        copy_text(out.detail, e.detail().c_str());
        copy_text(out.hint, e.hint().c_str());
    } catch (const std::bad_alloc &) {
        out.sqlstate = ERRCODE_OUT_OF_MEMORY;
        copy_text(out.message, "out of memory");
        snprintf(out.detail, sizeof(out.detail), "A C++ allocation failed in %s.", where);
    } catch (const std::exception &e) {
        // Not one of ours: a bug, so say where it came from.
        out.sqlstate = ERRCODE_INTERNAL_ERROR;
        snprintf(out.message, sizeof(out.message), "pymigrate internal error in %s: %s", where, e.what());
    } catch (...) {
        out.sqlstate = ERRCODE_INTERNAL_ERROR;
        snprintf(out.message, sizeof(out.message), "pymigrate internal error in %s: unknown C++ exception", where);
    }
}

void
raise_pending(const PendingError &p)
{
    ereport(ERROR, (errcode(p.sqlstate), errmsg_internal("%s", p.message),
                    p.detail[0] ? errdetail_internal("%s", p.detail) : 0, p.hint[0] ? errhint("%s", p.hint) : 0,
                    p.context[0] ? errcontext("%s", p.context) : 0));
    pg_unreachable();
}

void
throw_pg_error(ErrorData *edata)
{
    int sqlstate = edata->sqlerrcode;
    auto text = [](const char *s) { return std::string(s ? s : ""); };
    std::string message, detail, hint, context;
    try {
        message = text(edata->message);
        detail = text(edata->detail);
        hint = text(edata->hint);
        context = text(edata->context);
    } catch (...) {
        FreeErrorData(edata);
        throw;
    }
    FreeErrorData(edata);
    throw PgError(sqlstate, message, std::move(detail), std::move(hint), std::move(context));
}

} // namespace pymigrate::pg
