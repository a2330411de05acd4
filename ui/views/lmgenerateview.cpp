#include "ui/views/lmgenerateview.h"

#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QTextCursor>
#include <QTextEdit>
#include <QVBoxLayout>

#include "ui/formatting.h"

namespace cw::ui {

namespace {
const char kPromptKey[] = "lmGenerate/prompt";
const char kTokensKey[] = "lmGenerate/maxTokens";
const char kTemperatureKey[] = "lmGenerate/temperature";
const char kSeedKey[] = "lmGenerate/seed";
} // namespace

LmGenerateView::LmGenerateView(QWidget *parent) : LmJobView(parent)
{
    setObjectName(QStringLiteral("lmGenerateView"));
    buildUi();
    readSettings();
    updateControls();
}

void LmGenerateView::buildUi()
{
    m_prompt = new QPlainTextEdit;
    m_prompt->setObjectName(QStringLiteral("lmPrompt"));
    m_prompt->setPlaceholderText(tr("A prompt for the model to continue"));
    m_prompt->setTabChangesFocus(true);
    connect(m_prompt, &QPlainTextEdit::textChanged, this, [this]() { writeSettings(); });

    m_maxTokens = new QSpinBox;
    m_maxTokens->setObjectName(QStringLiteral("lmMaxTokens"));
    m_maxTokens->setRange(1, 100000);
    m_maxTokens->setSuffix(tr(" tokens"));
    m_maxTokens->setToolTip(tr("New tokens at most (fewer when the model's context is full or it ends the text)"));
    m_temperature = new QDoubleSpinBox;
    m_temperature->setObjectName(QStringLiteral("lmTemperature"));
    m_temperature->setRange(0, 5);
    m_temperature->setDecimals(2);
    m_temperature->setSingleStep(0.1);
    m_temperature->setSpecialValueText(tr("0 (greedy)"));
    m_temperature->setToolTip(tr("0: always the most likely token. Higher: sampled from the softmax of logits / "
                                 "temperature, more varied"));
    m_seed = new QSpinBox;
    m_seed->setObjectName(QStringLiteral("lmSeed"));
    m_seed->setRange(0, std::numeric_limits<int>::max());
    m_seed->setToolTip(tr("Seed of the sampling (the same seed and settings give the same text)"));
    for (QObject *o : {static_cast<QObject *>(m_maxTokens), static_cast<QObject *>(m_seed)})
        connect(qobject_cast<QSpinBox *>(o), &QSpinBox::valueChanged, this, [this]() { writeSettings(); });
    connect(m_temperature, &QDoubleSpinBox::valueChanged, this, [this]() {
        m_seed->setEnabled(m_temperature->value() > 0 && !isRunning());
        writeSettings();
    });

    m_run = new QPushButton(tr("Generate"));
    m_run->setObjectName(QStringLiteral("lmGenerateRun"));
    connect(m_run, &QPushButton::clicked, this, [this]() { generate(); });
    m_stop = new QPushButton(tr("Stop"));
    m_stop->setObjectName(QStringLiteral("lmGenerateStop"));
    m_stop->setToolTip(tr("Stop after the current token (Esc)"));
    connect(m_stop, &QPushButton::clicked, this, &LmGenerateView::stop);
    auto *run = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this, this, [this]() { generate(); });
    run->setContext(Qt::WidgetWithChildrenShortcut);
    auto *runEnter = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Enter), this, this, [this]() { generate(); });
    runEnter->setContext(Qt::WidgetWithChildrenShortcut);
    auto *escape = new QShortcut(QKeySequence(Qt::Key_Escape), this, this, &LmGenerateView::stop);
    escape->setContext(Qt::WidgetWithChildrenShortcut);
    m_progress = new QProgressBar;
    m_progress->setObjectName(QStringLiteral("lmGenerateProgress"));
    m_progress->setRange(0, 1000); // the weights' reading, then the tokens against the most asked for
    m_progress->setMaximumWidth(120);
    m_progress->setTextVisible(false);
    m_progress->setVisible(false);
    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("lmGenerateStatus"));
    m_status->setWordWrap(true);

    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("At most")));
    controls->addWidget(m_maxTokens);
    controls->addSpacing(8);
    controls->addWidget(new QLabel(tr("Temperature")));
    controls->addWidget(m_temperature);
    controls->addSpacing(8);
    controls->addWidget(new QLabel(tr("Seed")));
    controls->addWidget(m_seed);
    controls->addSpacing(12);
    controls->addWidget(m_run);
    controls->addWidget(m_stop);
    controls->addWidget(m_progress);
    controls->addStretch(1);

    m_output = new QTextEdit;
    m_output->setObjectName(QStringLiteral("lmOutput"));
    m_output->setReadOnly(true);
    m_output->setPlaceholderText(tr("The prompt and what the model makes of it appear here, token by token."));

    auto *top = new QWidget;
    auto *topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addWidget(new QLabel(tr("<b>Prompt</b> (Ctrl+Return generates)")));
    topLayout->addWidget(m_prompt, 1);
    topLayout->addLayout(controls);
    auto *bottom = new QWidget;
    auto *bottomLayout = new QVBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    auto *outputTitle = new QHBoxLayout;
    outputTitle->addWidget(new QLabel(tr("<b>Output</b>")));
    outputTitle->addWidget(m_status, 1);
    bottomLayout->addLayout(outputTitle);
    bottomLayout->addWidget(m_output, 1);

    auto *split = new QSplitter(Qt::Vertical);
    split->addWidget(top);
    split->addWidget(bottom);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 3);
    split->setChildrenCollapsible(false);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 8, 8, 8);
    layout->addWidget(split);
}

void LmGenerateView::readSettings()
{
    QSettings s;
    m_loading = true;
    m_prompt->setPlainText(s.value(QLatin1String(kPromptKey), tr("The jury said")).toString());
    m_maxTokens->setValue(s.value(QLatin1String(kTokensKey), 64).toInt());
    m_temperature->setValue(s.value(QLatin1String(kTemperatureKey), 0.0).toDouble());
    m_seed->setValue(s.value(QLatin1String(kSeedKey), 1).toInt());
    m_loading = false;
}

void LmGenerateView::writeSettings()
{
    if (m_loading)
        return;
    QSettings s;
    s.setValue(QLatin1String(kPromptKey), m_prompt->toPlainText());
    s.setValue(QLatin1String(kTokensKey), m_maxTokens->value());
    s.setValue(QLatin1String(kTemperatureKey), m_temperature->value());
    s.setValue(QLatin1String(kSeedKey), m_seed->value());
}

void LmGenerateView::setPrompt(const QString &prompt)
{
    m_prompt->setPlainText(prompt);
}

QString LmGenerateView::prompt() const
{
    return m_prompt->toPlainText();
}

void LmGenerateView::setMaxTokens(int tokens)
{
    m_maxTokens->setValue(tokens);
}

void LmGenerateView::setTemperature(double temperature)
{
    m_temperature->setValue(temperature);
}

void LmGenerateView::setSeed(int seed)
{
    m_seed->setValue(seed);
}

void LmGenerateView::setModel(LanguageModelPtr model)
{
    detachJob();
    m_model = std::move(model);
    m_output->clear();
    m_tokens.clear();
    m_bytes.clear();
    m_shown.clear();
    setStatus(QString());
    updateControls();
}

void LmGenerateView::append(const QString &text, bool prompt)
{
    QTextCursor cursor(m_output->document());
    cursor.movePosition(QTextCursor::End);
    QTextCharFormat format;
    format.setForeground(prompt ? QColor(120, 120, 120) : palette().color(QPalette::Text));
    cursor.insertText(text, format);
    m_output->setTextCursor(cursor);
    m_output->ensureCursorVisible();
}

int LmGenerateView::heldBack(const QByteArray &bytes)
{
    // The last lead byte among the last four, and how long its sequence must be.
    for (int back = 1; back <= 4 && back <= bytes.size(); ++back) {
        const auto b = uchar(bytes[bytes.size() - back]);
        if ((b & 0xC0) == 0x80)
            continue; // a continuation byte: look further back
        const int length = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 1;
        return length > back ? back : 0;
    }
    return 0;
}

void LmGenerateView::showBytes(int held)
{
    // Decoding stops at a character's start, so the text shown so far is a prefix of the longer text.
    const QString text = QString::fromUtf8(m_bytes.left(m_bytes.size() - held));
    if (!text.startsWith(m_shown)) { // never expected; redraw rather than show a wrong text
        m_output->clear();
        append(prompt(), true);
        m_shown.clear();
    }
    append(text.mid(m_shown.size()), false);
    m_shown = text;
}

bool LmGenerateView::generate()
{
    if (!mayStart(tr("This model carries no tokenizer the workbench can read, so it cannot read a prompt.")))
        return false;
    GenerateParams params;
    params.model = m_model;
    params.prompt = prompt().toStdString();
    params.maxTokens = m_maxTokens->value();
    params.temperature = m_temperature->value();
    params.seed = uint64_t(m_seed->value());
    auto *job = new GenerateJob(std::move(params), this);
    m_output->clear();
    m_tokens.clear();
    m_bytes.clear();
    m_shown.clear();
    m_promptTokens = 0;
    m_progress->setValue(0);
    append(prompt(), true);
    connect(job, &GenerateJob::promptEncoded, this, [this](int tokens) {
        m_promptTokens = tokens;
        setStatus(tr("Prompt: %n token(s)…", nullptr, tokens));
    });
    connect(job, &Job::progress, this, [this](double fraction) { m_progress->setValue(int(fraction * 1000)); });
    connect(job, &GenerateJob::tokenGenerated, this, [this, job](int id, const QByteArray &piece) {
        m_tokens.push_back(id);
        m_bytes += piece;
        showBytes(heldBack(m_bytes)); // a character split across tokens waits for its end
        updateStatus(job, QString());
    });
    connect(job, &GenerateJob::succeeded, this, [this, job]() {
        const bool ended = !m_tokens.empty() && m_tokens.back() == m_model->tokenizer()->eos();
        const bool full = int64_t(m_tokens.size()) < job->params().maxTokens;
        updateStatus(job, ended ? tr("the model ended the text") : full ? tr("the context is full") : tr("done"));
    });
    connect(job, &Job::cancelled, this, [this, job]() { updateStatus(job, tr("stopped")); });
    connect(job, &Job::failed, this, [this](const QString &error) { setStatus(tr("Failed: %1").arg(error)); });
    runJob(job, tr("Reading the prompt…"), [this, job]() {
        showBytes(0); // a character the last token left unfinished shows as the replacement character
        return job->completed();
    });
    return true;
}

void LmGenerateView::stop()
{
    if (Job *job = currentJob())
        job->cancel();
}

void LmGenerateView::updateStatus(const GenerateJob *job, const QString &end)
{
    QString text = tr("Prompt %n token(s)", nullptr, m_promptTokens) + QStringLiteral(" · ") +
                   tr("%n new", nullptr, int(m_tokens.size()));
    const double seconds = job->generationSeconds();
    if (seconds > 0)
        text += QStringLiteral(" · ") +
                tr("%1 tokens/s").arg(displayLocale().toString(double(m_tokens.size() - 1) / seconds, 'f', 1));
    if (!end.isEmpty())
        text += QStringLiteral(" · ") + end;
    setStatus(text);
}

void LmGenerateView::updateControls()
{
    const bool busy = isRunning();
    const QString why = whyNot();
    m_run->setEnabled(!busy && why.isEmpty());
    m_run->setToolTip(why.isEmpty() ? tr("Continue the prompt (Ctrl+Return)") : why);
    m_stop->setEnabled(busy);
    m_progress->setVisible(busy);
    m_prompt->setReadOnly(busy);
    m_maxTokens->setEnabled(!busy);
    m_temperature->setEnabled(!busy);
    m_seed->setEnabled(!busy && m_temperature->value() > 0);
}

} // namespace cw::ui
