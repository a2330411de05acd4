#include "ui/views/lmoverview.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QTextBrowser>
#include <QTextDocument>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <map>

#include "ui/charts/chartexport.h"
#include "ui/formatting.h"
#include "ui/models/lmtensormodel.h"

namespace cw::ui {

namespace {

QString heading(const QString &text)
{
    return QStringLiteral("<h3 style='margin-top:10px; margin-bottom:4px'>%1</h3>").arg(text.toHtmlEscaped());
}

// GGUF summaries quote strings ("\"gpt2\""); people read them without.
QString unquoted(const std::string &value)
{
    QString v = QString::fromStdString(value);
    if (v.size() >= 2 && v.startsWith(QLatin1Char('"')) && v.endsWith(QLatin1Char('"')))
        v = v.mid(1, v.size() - 2);
    return v;
}

enum class Part { Attention, Mlp, Norm, Embedding, Other, Count };

Part partOf(const std::string &role)
{
    if (role.find("norm") != std::string::npos)
        return Part::Norm;
    if (role.rfind("attn_", 0) == 0)
        return Part::Attention;
    if (role.rfind("ffn_", 0) == 0)
        return Part::Mlp;
    if (role == "embedding" || role == "position_embedding" || role == "output")
        return Part::Embedding;
    return Part::Other;
}

} // namespace

LmOverview::LmOverview(QWidget *parent) : QWidget(parent)
{
    setObjectName(QStringLiteral("lmOverview"));
    m_text = new QTextBrowser;
    m_text->setObjectName(QStringLiteral("lmSummary"));
    m_text->setFrameShape(QFrame::NoFrame);
    m_text->document()->setDocumentMargin(10);

    m_chart = new QCustomPlot;
    m_chart->setObjectName(QStringLiteral("lmParameterChart"));
    enableChartExport(m_chart, QStringLiteral("parameters-per-block"));
    m_chart->xAxis->setLabel(tr("Block"));
    m_chart->yAxis->setLabel(tr("Parameters"));
    m_chart->setLocale(displayLocale()); // 600,000 rather than 600000
    m_chart->yAxis->setNumberFormat(QStringLiteral("f"));
    m_chart->yAxis->setNumberPrecision(0);
    m_chart->xAxis->grid()->setVisible(false);
    m_chart->legend->setVisible(true);
    m_chart->legend->setBrush(QColor(255, 255, 255, 220));
    m_chart->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    auto *chartBox = new QWidget;
    auto *chartLayout = new QVBoxLayout(chartBox);
    chartLayout->setContentsMargins(6, 6, 6, 6);
    chartLayout->addWidget(new QLabel(tr("<b>Where the parameters are</b>")));
    chartLayout->addWidget(m_chart, 1);

    auto *split = new QSplitter(Qt::Horizontal);
    split->setObjectName(QStringLiteral("lmOverviewSplitter"));
    split->addWidget(m_text);
    split->addWidget(chartBox);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    split->setChildrenCollapsible(false);
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(split);
    render();
}

void LmOverview::setModel(const cw::lm::LanguageModel *model, const QString &displayName, qint64 fileSize,
                          const LmTensorModel *tensors)
{
    m_model = model;
    m_displayName = displayName;
    m_fileSize = fileSize;
    m_perplexity.reset();
    m_perplexityText.clear();
    render();
    updateChart(tensors);
}

void LmOverview::setPerplexity(const std::optional<PerplexityOutcome> &outcome, const QString &text)
{
    m_perplexity = outcome;
    m_perplexityText = text;
    render();
}

QString LmOverview::value(const QString &label) const
{
    for (const auto &[key, text] : m_rows)
        if (key == label)
            return text;
    return {};
}

void LmOverview::render()
{
    m_rows.clear();
    if (!m_model) {
        m_text->setHtml(heading(tr("No language model is open")));
        return;
    }
    const cw::lm::Config &c = m_model->config();
    const QLocale locale = displayLocale();
    QString html;
    const auto table = [&html](const QString &title) {
        html += heading(title) + QStringLiteral("<table cellspacing='0' cellpadding='2'>");
    };
    const auto endTable = [&html]() { html += QStringLiteral("</table>"); };
    // Rich text shown, plain text remembered for value().
    const auto row = [this, &html](const QString &key, const QString &value, bool bold = false) {
        m_rows.append({key, value});
        html += QStringLiteral("<tr><td style='color:#666; padding-right:14px; white-space:nowrap'>%1</td><td>%2</td></tr>")
                    .arg(key.toHtmlEscaped(), bold ? QStringLiteral("<b>%1</b>").arg(value.toHtmlEscaped()) : value.toHtmlEscaped());
    };

    table(tr("Language model"));
    row(tr("Name"), QString::fromStdString(c.name), true);
    row(tr("File"), m_displayName);
    if (m_fileSize >= 0)
        row(tr("File size"), formatBytes(m_fileSize));
    row(tr("Format"), c.format == "gguf" ? QStringLiteral("GGUF") : QStringLiteral("Hugging Face safetensors"));
    const QString family = c.arch == cw::lm::Arch::Llama ? QStringLiteral("llama") : QStringLiteral("gpt2");
    row(tr("Architecture"), QString::fromStdString(c.archName) == family
                                ? family
                                : tr("%1 (%2 family)").arg(QString::fromStdString(c.archName), family));
    row(tr("Parameters"), formatCount(c.parameters), true);
    row(tr("Stored"), c.parameters > 0 ? tr("%1 · %2 bits per weight")
                                             .arg(formatBytes(c.storedBytes))
                                             .arg(locale.toString(8.0 * double(c.storedBytes) / double(c.parameters), 'f', 2))
                                       : formatBytes(c.storedBytes));
    std::map<std::string, int> types;
    for (const auto &t : m_model->tensors())
        ++types[t.type];
    QStringList typeList;
    for (const auto &[type, count] : types)
        typeList << tr("%1 × %2").arg(QString::fromStdString(type)).arg(count);
    row(tr("Tensor types"), typeList.join(QStringLiteral(", ")));
    endTable();

    table(tr("Network"));
    const cw::lm::Tokenizer *tok = m_model->tokenizer();
    row(tr("Vocabulary"), tok ? tr("%1 tokens (%2)").arg(formatCount(c.vocab), QString::fromStdString(tok->kind()))
                              : tr("%1 tokens (no tokenizer the workbench can read)").arg(formatCount(c.vocab)));
    if (tok) {
        QStringList special;
        const auto name = [tok](int32_t id) { return QString::fromStdString(tok->text(id)); };
        if (tok->bos() >= 0)
            special << tr("BOS %1 %2").arg(tok->bos()).arg(name(tok->bos()));
        if (tok->eos() >= 0)
            special << tr("EOS %1 %2").arg(tok->eos()).arg(name(tok->eos()));
        if (!special.isEmpty())
            row(tr("Special tokens"), special.join(QStringLiteral(" · ")));
    }
    row(tr("Context"), c.contextLength > 0 ? tr("%1 tokens").arg(formatCount(c.contextLength)) : tr("not declared"));
    row(tr("Embedding"), formatCount(c.dim));
    row(tr("Blocks"), formatCount(c.layers));
    row(tr("Heads"), tr("%1 (%2 key / value; %3 per head)").arg(c.heads).arg(c.kvHeads).arg(c.headDim));
    row(tr("Feed-forward"), formatCount(c.ffn));
    row(tr("Norm ε"), QString::number(c.normEps, 'g', 3));
    if (c.arch == cw::lm::Arch::Llama)
        row(tr("Rotary θ"), tr("%1 (%2 pairs)").arg(locale.toString(c.ropeTheta, 'g', 6),
                                                    c.ropeHalves ? tr("split-half") : tr("adjacent")));
    endTable();

    if (m_perplexity) {
        const cw::lm::PerplexityResult &r = m_perplexity->result;
        table(tr("Evaluation"));
        row(tr("Perplexity"), locale.toString(r.perplexity, 'f', 3), true);
        row(tr("Text"), m_perplexityText);
        row(tr("Scored"), tr("%1 tokens in %2 chunks of %3").arg(formatCount(r.scored)).arg(r.chunks).arg(m_perplexity->ctx));
        endTable();
    }

    // How the workbench trained it (cwb train-lm writes workbench.* keys), apart from the rest of the metadata.
    const std::string provenance = "workbench.";
    bool trained = false;
    for (const auto &[key, value] : m_model->metadata()) {
        if (key.rfind(provenance, 0) != 0)
            continue;
        if (!trained)
            table(tr("Trained by the workbench"));
        trained = true;
        QString label = QString::fromStdString(key.substr(provenance.size())).replace(QLatin1Char('_'), QLatin1Char(' '));
        label[0] = label[0].toUpper();
        row(label, unquoted(value));
    }
    if (trained)
        endTable();

    table(tr("Metadata"));
    for (const auto &[key, value] : m_model->metadata())
        if (key.rfind(provenance, 0) != 0)
            row(QString::fromStdString(key), unquoted(value));
    endTable();
    m_text->setHtml(html);
}

void LmOverview::updateChart(const LmTensorModel *tensors)
{
    m_chart->clearPlottables();
    const std::vector<LmTensorModel::Group> none;
    const auto &groups = m_model && tensors ? tensors->groups() : none;
    const int parts = int(Part::Count);
    const QString names[] = {tr("Attention"), tr("MLP"), tr("Norms"), tr("Embeddings and head"), tr("Other")};
    const QColor colors[] = {QColor(70, 130, 180), QColor(230, 126, 34), QColor(120, 120, 120), QColor(60, 160, 90),
                             QColor(170, 120, 190)};
    std::vector<QVector<double>> values(size_t(parts), QVector<double>(qsizetype(groups.size()), 0.0));
    QVector<double> keys;
    QVector<QString> labels;
    for (size_t g = 0; g < groups.size(); ++g) {
        keys << double(g);
        labels << (groups[g].block >= 0 ? QString::number(groups[g].block) : groups[g].title);
        for (size_t i : groups[g].tensors) {
            const auto &t = m_model->tensors()[i];
            values[size_t(partOf(t.role))][qsizetype(g)] += double(t.numel);
        }
    }
    QCPBars *below = nullptr;
    double peak = 0;
    for (int p = 0; p < parts; ++p) {
        bool any = false;
        for (double v : values[size_t(p)])
            any = any || v > 0;
        if (!any)
            continue;
        auto *bars = new QCPBars(m_chart->xAxis, m_chart->yAxis);
        bars->setName(names[p]);
        bars->setBrush(colors[p]);
        bars->setPen(QPen(colors[p].darker(130), 0.5));
        bars->setWidth(0.7);
        bars->setData(keys, values[size_t(p)], true);
        if (below)
            bars->moveAbove(below);
        below = bars;
    }
    for (qsizetype g = 0; g < keys.size(); ++g) {
        double total = 0;
        for (int p = 0; p < parts; ++p)
            total += values[size_t(p)][g];
        peak = std::max(peak, total);
    }
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    // Every group's label while they fit; a block number every few blocks for deep models.
    const int step = std::max(1, int(keys.size()) / 24);
    for (qsizetype g = 0; g < keys.size(); ++g)
        if (g % step == 0 || groups[size_t(g)].block < 0)
            ticker->addTick(keys[g], labels[g]);
    m_chart->xAxis->setTicker(ticker);
    m_chart->xAxis->setRange(-0.7, double(keys.size()) - 0.3);
    m_chart->yAxis->setRange(0, std::max(1.0, peak * 1.25));
    m_chart->legend->setVisible(below != nullptr);
    m_chart->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace cw::ui
