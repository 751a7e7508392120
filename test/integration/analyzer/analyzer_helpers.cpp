#include "test/integration/analyzer/analyzer_helpers.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <random>

#include "common/pq.hpp"

namespace fs = std::filesystem;

namespace pymigrate::analyzer::testing
{

std::string
shell_quote(const std::string &s)
{
    std::string q = "'";
    for (char c : s) {
        if (c == '\'')
            q += "'\\''";
        else
            q += c;
    }
    return q + "'";
}

Output
run(const std::string &command)
{
    Output out;
    FILE *p = popen((command + " 2>&1").c_str(), "r");
    if (!p)
        return out;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        out.text.append(buf.data(), n);
    int status = pclose(p);
    out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

Output
run_cli(const std::vector<std::string> &args)
{
    std::string cmd = shell_quote(PYMIGRATE_CLI);
    for (const auto &a : args)
        cmd += " " + shell_quote(a);
    return run(cmd);
}

TempDir::TempDir()
{
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("pymigrate-analyzer-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
}

TempDir::~TempDir()
{
    std::error_code ec;
    fs::remove_all(path_, ec);
}

void
run_shop_workload(const std::string &dsn)
{
    pq::Connection c(dsn);
    // Reads: (statement, calls). Parameters keep pg_stat_statements' entries one per shape.
    const std::pair<const char *, int> reads[] = {
        {"SELECT u.email, a.city FROM users u JOIN user_addresses a ON a.user_id = u.id WHERE u.email = $1", 40},
        {"SELECT u.id FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE s.user_agent = $1", 80},
        {"SELECT l.points FROM loyalty_accounts l JOIN users u ON u.id = l.user_id WHERE u.email = $1", 30},
        {"SELECT n.template FROM notifications n JOIN users u ON u.id = n.user_id WHERE u.email = $1", 20},
        {"SELECT p.name, v.sku FROM products p JOIN product_variants v ON v.product_id = p.id WHERE p.sku = $1", 100},
        {"SELECT p.name, c.name, b.name FROM products p JOIN categories c ON c.id = p.category_id "
         "LEFT JOIN brands b ON b.id = p.brand_id WHERE c.slug = $1",
         60},
        {"SELECT avg(r.rating) FROM product_reviews r JOIN products p ON p.id = r.product_id WHERE p.sku = $1", 40},
        {"SELECT s.on_hand, w.code FROM stock_levels s JOIN warehouses w ON w.id = s.warehouse_id "
         "WHERE w.code = $1",
         80},
        {"SELECT m.quantity FROM stock_movements m JOIN stock_levels s USING (warehouse_id, variant_id) "
         "WHERE m.reference = $1",
         30},
        {"SELECT po.total, l.quantity, s.name FROM purchase_orders po JOIN purchase_order_lines l "
         "ON l.purchase_order_id = po.id JOIN suppliers s ON s.id = po.supplier_id WHERE po.status = $1",
         30},
        {"SELECT o.total, i.quantity FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.notes = $1", 100},
        {"SELECT p.amount FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.notes = $1", 50},
        {"SELECT r.amount FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE p.provider_ref = $1", 20},
        {"SELECT s.tracking_number FROM shipments s JOIN orders o ON o.id = s.order_id WHERE o.notes = $1", 40},
        {"SELECT c.id, i.quantity FROM carts c JOIN cart_items i ON i.cart_id = c.id WHERE i.quantity = $1::int", 60},
        {"SELECT o.total FROM orders o JOIN coupons c ON c.code = o.coupon_code WHERE c.code = $1", 20},
        {"SELECT t.subject, m.body, a.full_name FROM support_tickets t JOIN ticket_messages m ON m.ticket_id = t.id "
         "LEFT JOIN agents a ON a.id = t.assigned_agent_id WHERE t.subject = $1",
         40},
    };
    for (const auto &[sql, calls] : reads)
        for (int i = 0; i < calls; ++i)
            c.exec(sql, {std::to_string(i)});
    // Transactions: what writes together.
    for (int i = 0; i < 20; ++i) {
        c.exec("BEGIN");
        auto order = c.scalar("INSERT INTO orders (user_id, subtotal, total) SELECT id, 10, 10 FROM users "
                              "ORDER BY id LIMIT 1 OFFSET $1 RETURNING id",
                              {std::to_string(i)});
        c.exec("INSERT INTO order_items (order_id, variant_id, quantity, unit_price) "
               "SELECT $1, id, 1, 10 FROM product_variants ORDER BY id LIMIT 1",
               {*order});
        c.exec("INSERT INTO payments (id, order_id, method, status, amount) "
               "VALUES (gen_random_uuid(), $1, 'card', 'authorized', 10)",
               {*order});
        c.exec("COMMIT");
    }
    for (int i = 0; i < 15; ++i) {
        c.exec("BEGIN");
        auto cart = c.scalar("INSERT INTO carts (id) VALUES (gen_random_uuid()) RETURNING id");
        c.exec("INSERT INTO cart_items (cart_id, variant_id, quantity) SELECT $1, id, 1 FROM product_variants "
               "ORDER BY id LIMIT 1",
               {*cart});
        c.exec("COMMIT");
    }
    for (int i = 0; i < 15; ++i) {
        c.exec("BEGIN");
        auto r = c.exec("UPDATE stock_levels SET on_hand = on_hand - 1 WHERE (warehouse_id, variant_id) = "
                        "(SELECT warehouse_id, variant_id FROM stock_levels ORDER BY 1, 2 LIMIT 1 OFFSET $1::int) "
                        "RETURNING warehouse_id, variant_id",
                        {std::to_string(i)});
        c.exec("INSERT INTO stock_movements (warehouse_id, variant_id, kind, quantity) VALUES ($1::int, $2::bigint, "
               "'sale', -1)",
               {std::string(r.value(0, 0)), std::string(r.value(0, 1))});
        c.exec("COMMIT");
    }
    for (int i = 0; i < 10; ++i) {
        c.exec("BEGIN");
        auto t = c.scalar("INSERT INTO support_tickets (user_id, subject) SELECT id, 'help' FROM users ORDER BY id "
                          "LIMIT 1 RETURNING id");
        c.exec("INSERT INTO ticket_messages (ticket_id, author_kind, body) VALUES ($1, 'customer', 'hi')", {*t});
        c.exec("COMMIT");
    }
    // A transaction that crosses domains: an order placed with a loyalty point.
    for (int i = 0; i < 5; ++i) {
        c.exec("BEGIN");
        c.exec("INSERT INTO orders (user_id, subtotal, total) SELECT user_id, 1, 1 FROM loyalty_accounts LIMIT 1");
        c.exec("UPDATE loyalty_accounts SET points = points + 1 WHERE user_id = (SELECT user_id FROM loyalty_accounts "
               "LIMIT 1)");
        c.exec("COMMIT");
    }
}

Output
openapi_lint(const fs::path &spec)
{
    fs::path npm = fs::path(PYMIGRATE_BUILD_DIR) / "npm";
    fs::path redocly = npm / "node_modules" / ".bin" / "redocly";
    if (!fs::exists(redocly)) {
        fs::create_directories(npm);
        Output install = run("npm install --no-audit --no-fund --loglevel=error --prefix " + shell_quote(npm.string()) +
                             " @redocly/cli@2");
        if (install.status != 0 || !fs::exists(redocly))
            return {install.status == 0 ? 1 : install.status, "npm install @redocly/cli failed:\n" + install.text};
    }
    return run(shell_quote(redocly.string()) + " lint " + shell_quote(spec.string()));
}

nlohmann::json
service_with(const nlohmann::json &analysis, const std::string &table)
{
    for (const auto &s : analysis["services"])
        for (const auto &t : s["tables"])
            if (t == table)
                return s;
    return nullptr;
}

bool
same_service(const nlohmann::json &analysis, const std::string &a, const std::string &b)
{
    auto s = service_with(analysis, a);
    return !s.is_null() && s == service_with(analysis, b);
}

int
free_port()
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

} // namespace pymigrate::analyzer::testing
